"""The ``xemap`` command line: ``train``, ``predict``, ``demo`` and ``selo``.

Each subcommand lives in the module that does the work; that module exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning the exit status. Modules are imported only when their
subcommand runs, so ``xemap --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module holding ``register``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("xemap.train", "train an XeMap-Network from a JSON config"),
    "predict": ("xemap.predict", "write one correlation map per query (probmap_{idx}.png)"),
    "demo": ("xemap.demo", "train a tiny XeMap-Network on a synthetic referring task, on CPU"),
    "selo": ("xemap.baselines.cli", "SeLo / SeLo v2 / CLIP-SeLo baseline maps"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xemap`` command line and return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="xemap", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints usage / help / the error for an unknown command
        parser.print_help()
        return 2
    name = argv[0]
    real = argparse.ArgumentParser(prog="xemap")
    real_sub = real.add_subparsers(dest="command")
    importlib.import_module(COMMANDS[name][0]).register(real_sub)
    args = real.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
