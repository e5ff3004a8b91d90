"""Every command the README shows composes: its script exists and its overrides name real groups and keys."""
import re
import shlex

import pytest
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
