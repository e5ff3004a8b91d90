"""Objects from config: ``instantiate`` without Hydra's wrapping of the errors our classes raise,
and what Hydra knows of the running job."""
from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate


def make(node, **kwargs):
    """``hydra.utils.instantiate(node, **kwargs)``; a ``ValueError`` / ``FileNotFoundError`` raised by
    the class itself comes out as it was raised, not as Hydra's one-line ``repr`` of it (which would
    print a multi-line message, such as an expected folder layout, with literal ``\\n``)."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, (ValueError, FileNotFoundError, NotADirectoryError)):
            raise cause.with_traceback(None) from None
        raise


def group_choice(group: str) -> str | None:
    """The option chosen for a config group (``loss=dcontrastive`` → ``dcontrastive``) inside a Hydra run."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def check_cli_arguments(argv: list[str]) -> None:
    """Refuse, with a message naming it, a command-line argument that is not valid UTF-8 (a file name
    in another encoding): Hydra parses arguments as text and would only print a lexer error."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise SystemExit(f"error: the argument {shown!r} is not valid UTF-8 (a file name in another encoding?); "
                             "rename the file, or point at its folder") from None
