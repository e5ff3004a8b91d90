"""Every command the README shows composes: its script exists and its overrides name real groups and keys."""
import re
import shlex

import pytest
import yaml
from omegaconf import OmegaConf

from helpers import ROOT, compose_config

README = (ROOT / "README.md").read_text().replace("\\\n", " ")     # shell line continuations joined
# `python scripts/<name>.py key=value ...` up to the end of the code span, table cell or line
COMMAND = re.compile(r"python (scripts/[\w/]+\.py)((?:[ \t]+[^\s`|]+)*)")
HYDRA_SCRIPTS = {"train", "evaluate", "export", "match", "bundle", "sweep"}


def readme_commands() -> list[tuple[str, str]]:
    return sorted(set(COMMAND.findall(README)))


def test_the_readme_shows_commands_of_every_entry_point():
    scripts = {script for script, _ in readme_commands()}
    assert {f"scripts/{name}.py" for name in HYDRA_SCRIPTS} <= scripts


@pytest.mark.parametrize("script,args", readme_commands(), ids=lambda v: v.strip()[:60])
def test_readme_command_composes(script, args):
    assert (ROOT / script).is_file(), script
    name = script.removeprefix("scripts/").removesuffix(".py")
    if name not in HYDRA_SCRIPTS:
        return          # benchmark scripts take argparse options; `make bench` runs them
    # placeholders (run_dir=outputs/<run>) stand for a value the user fills in
    # [key=value] is the README's notation for an optional argument: composed as key=value
    words = shlex.split(re.sub(r"<[^>]*>", "x", args))
    overrides = [w.strip("[]") if w.startswith("[") else w for w in words if "=" in w and not w.startswith("-")]
    if name == "train":
        overrides.append("run_dir=x")      # Hydra's run directory, known only inside a Hydra run
    cfg = compose_config(name, overrides)
    assert not OmegaConf.missing_keys(cfg), (script, args)


# A row of the Configuration table whose knob and default cells are backticked lists: "| `a.b`, `c` | `1`, `x` |"
KNOB_ROW = re.compile(r"^\| ((?:`[^`]+`(?:, )?)+) \| ((?:`[^`]+`(?:, )?)+) \|", re.M)


def readme_knob_defaults() -> list[tuple[str, str]]:
    """``(key, default)`` of every row of the Configuration section's tables that names config keys with
    one plain default each (rows whose default cell says more, e.g. a default per loss, are left out).
    A key without a dot after the first shares the first's parent: `` `data.train_pairs`, `val_pairs` ``."""
    out = []
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    for keys_cell, values_cell in KNOB_ROW.findall(section):
        keys, values = re.findall(r"`([^`]+)`", keys_cell), re.findall(r"`([^`]+)`", values_cell)
        if len(keys) != len(values) or any("=" in k or not re.fullmatch(r"[\w.]+", k) for k in keys):
            continue
        parent = keys[0].rpartition(".")[0]
        out += [(k if "." in k or not parent else f"{parent}.{k}", v) for k, v in zip(keys, values)]
    return out


def test_the_readme_knob_table_shows_the_config_defaults():
    defaults = readme_knob_defaults()
    assert {"loss.m1", "optimizer.weight_decay", "model.pool_grid"} <= {k for k, _ in defaults}
    # the default job, then the groups whose own keys the table lists (dcontrastive's margins, image sources')
    groups = ([], ["loss=dcontrastive"], ["data=folder"])
    composed = [compose_config("train", ["run_dir=x", *group]) for group in groups]
    for key, shown in defaults:
        cfg = next((c for c in composed if OmegaConf.select(c, key, default="absent") != "absent"), None)
        assert cfg is not None, f"README knob {key} is in no composed config"
        actual = OmegaConf.select(cfg, key)
        actual = OmegaConf.to_container(actual) if OmegaConf.is_config(actual) else actual
        assert actual == yaml.safe_load(shown), f"README says {key} defaults to {shown}, the config has {actual}"
