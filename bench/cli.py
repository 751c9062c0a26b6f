"""`imse-bench`: the harness's commands under one name.

    imse-bench evaluate|compare|complexity|tables|report|regress|reproduce|train|data [OPTIONS]

Each subcommand passes the rest of the command line to the `main` of its module, so
`imse-bench evaluate ...` is `python -m bench.evaluate ...` (and `imse-bench tables --help`
is that command's help). The `python -m` forms stay.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "evaluate": ("bench.evaluate", "score enhanced files against clean ones; `merge` joins shards"),
    "compare": ("bench.compare", "paired comparison of two scored systems"),
    "complexity": ("bench.complexity", "parameters, MACs, latency and memory of registered models"),
    "tables": ("bench.tables", "the comparison tables from results/"),
    "report": ("bench.report", "a static page of results/: tables, plots, audio, provenance"),
    "regress": ("bench.regress", "fresh numbers against results/baselines/"),
    "reproduce": ("bench.reproduce", "the main job: every step into results/"),
    "train": ("bench.train.__main__", "train or resume one model"),
    "data": ("bench.data.__main__", "describe a VoiceBank+DEMAND source"),
}
"""Subcommand -> (module whose `main(argv) -> int` runs it, one line of help)."""


def parser() -> argparse.ArgumentParser:
    """The subcommands; their own options are left for their modules to parse."""
    command_line = argparse.ArgumentParser(prog="imse-bench", description=__doc__.split("\n\n")[0])
    commands = command_line.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        commands.add_parser(name, help=f"{summary} (python -m {module.removesuffix('.__main__')})", add_help=False)
    return command_line


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand's `main` with the remaining arguments; its exit code is ours."""
    arguments, rest = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    module = importlib.import_module(COMMANDS[arguments.command][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
