"""argparse types that every command line of the project shares, so that a bad number is
refused by the parser with one message everywhere, not deep in a run."""

from __future__ import annotations

import argparse


def _integer(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_integer(text: str) -> int:
    """A whole number of at least 1 (threads, steps, sizes)."""
    return _integer(text, 1)


def non_negative_integer(text: str) -> int:
    """A whole number of at least 0 (worker counts, where 0 means in-process)."""
    return _integer(text, 0)
