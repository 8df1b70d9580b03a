"""The xemap command line: train, predict, demo and selo.

Each subcommand lives in the module that does the work; COMMANDS maps its name to the
``"module:function"`` that adds its parser (the function sets ``func`` to a callable taking
the parsed arguments and returning the exit status). Modules are imported only when their
subcommand runs, so ``xemap --help`` is fast and works without torch.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

#: subcommand -> ("module:function" adding its parser, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "xemap.engine.commands:register_train",
        "train any registered model family from a JSON config",
    ),
    "predict": (
        "xemap.engine.commands:register_predict",
        "write one correlation map per query (probmap_{idx}.png)",
    ),
    "demo": (
        "xemap.demo:register",
        "train a tiny XeMap-Network on a synthetic referring task, on CPU",
    ),
    "bench": (
        "xemap.bench.cli:register",
        "train models on the synthetic task; score with a control",
    ),
    "selo": ("xemap.baselines.cli:register", "SeLo / SeLo v2 / CLIP-SeLo baseline maps"),
}

DESCRIPTION = """\
XeMap-Network, the referring-model engine and the SeLo baselines.

Maps written by 'xemap predict' and 'xemap selo' are scored with 'selo-metrics score'.
Run 'xemap COMMAND --help' for a command's options."""

#: the packages the xemap commands need, and how to get them
NEEDS = ("torch", "transformers", "safetensors")
INSTALL = "pip install 'selo-metrics[xemap]'"


def _missing_dependency(name: str | None) -> str | None:
    """The name of a missing package the commands need, if that is what ``name`` is."""
    root = (name or "").split(".")[0]
    return root if root in NEEDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xemap`` command line and return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="xemap", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_target, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints usage / help / the error for an unknown command
        parser.print_help()
        return 2
    name = argv[0]
    absent = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if absent:
        print(
            f"xemap {name}: error: needs {', '.join(absent)}, which is not installed; "
            f"install the xemap extra: {INSTALL}",
            file=sys.stderr,
        )
        return 2
    real = argparse.ArgumentParser(prog="xemap")
    real_sub = real.add_subparsers(dest="command")
    module, _, func = COMMANDS[name][0].partition(":")
    try:
        getattr(importlib.import_module(module), func)(real_sub)
        args = real.parse_args(argv)
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        missing = _missing_dependency(exc.name)
        if missing is None:
            raise
        print(
            f"xemap {name}: error: needs {missing}, which is not installed; "
            f"install the xemap extra: {INSTALL}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
