"""The harness's one exception base: every error a bench step raises on purpose derives from it.

A command line catches `BenchError`, prints its message and exits 2; a caller that strings
steps together (bench.reproduce, bench.regress) lets it propagate. Errors of the model
library (`imse`) and of the data and training layers keep their own bases.
"""

from __future__ import annotations

import sys


class BenchError(Exception):
    """A bench step that cannot go on; the message says why and names the file or option."""


def report_error(error: BaseException) -> int:
    """Print `error: MESSAGE` to stderr and give the exit code of a failed command (2)."""
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    print(f"error: {message}", file=sys.stderr)
    return 2
