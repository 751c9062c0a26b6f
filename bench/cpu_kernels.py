"""Which CPU kernels torch runs: pinned to AVX2 so that a seeded run gives the same bits on any x86 CPU.

torch picks its vectorised ATen kernels and its oneDNN convolutions by the widest instruction
set the CPU has. Wider vectors sum in another order, so the same seed trains other weights
on an AVX-512 machine than on an AVX2 one: measured here, a smoke run of IMSE on an AMD EPYC
with AVX-512 ended with other weights than the committed run (PESQ moved by up to 0.3 on
single utterances), and with these two variables set it ended bit for bit on the committed
weights. Every `bench` command therefore sets them, unless the caller already has: export
ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA yourself (e.g. `avx512` and `ALL`) to time the
widest kernels instead. A CPU without AVX2 runs narrower kernels and gets other numbers;
`instruction_set()` is recorded in every provenance file and in complexity.csv to show it.

The one exception is a command that compares with the authors' own code (NATIVE_COMMANDS):
their code does not pin, so it runs torch's own choice for the CPU, and so does the check.
The shared training-step references were made with oneDNN's AVX-512 convolutions: pinned to
AVX2, our step ends with 38% of IMSE's weights more than 1e-5 from them, with torch's own
choice on an AVX-512 CPU 0.035% (docs/training-parity.md).

The variables only take effect if set before torch runs its first operator, so this module
must not import torch, and `bench/__init__.py` calls `pin_instruction_set()` first thing.
"""

from __future__ import annotations

import os
import sys

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
NATIVE_COMMANDS = frozenset({"bench.train.parity"})
"""Modules that, run with `python -m`, keep torch's own kernel choice (they compare with unpinned code)."""


def running_module(argv: list[str] | None = None) -> str | None:
    """The module this Python process was started with (`python -m NAME`), or None: read as CPython reads its
    options (grouped short flags, -W and -X taking a value), stopping at -c or at a script's name."""
    argv = sys.orig_argv if argv is None else argv
    index = 1
    while index < len(argv):
        argument = argv[index]
        if argument == "-" or not argument.startswith("-") or argument.startswith("--"):
            return None  # a script, stdin, or a long option (none of which CPython's -m follows here)
        for position, flag in enumerate(argument[1:], start=2):
            if flag == "c":
                return None
            if flag in "mWX":
                value = argument[position:] or (argv[index + 1] if index + 1 < len(argv) else None)
                if flag == "m":
                    return value
                index += 0 if argument[position:] else 1
                break
        index += 1
    return None


def pin_instruction_set(argv: list[str] | None = None) -> None:
    """Set the variables in PINNED where the environment does not set them already, except in a
    command of NATIVE_COMMANDS."""
    if running_module(argv) in NATIVE_COMMANDS:
        return
    for name, value in PINNED.items():
        os.environ.setdefault(name, value)


def instruction_set() -> str:
    """The instruction set torch's CPU kernels run with in this process (e.g. 'AVX2')."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def onednn_limit() -> str | None:
    """The instruction set oneDNN's convolutions are limited to in this process, or None for the CPU's widest."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return None if limit is None or limit.upper() == "ALL" else limit


def kernel_choice() -> str:
    """Both kernel choices in words: ATen's instruction set and oneDNN's limit."""
    limit = onednn_limit()
    onednn = f"oneDNN up to {limit}" if limit else "oneDNN's widest for this CPU"
    return f"ATen {instruction_set()}, {onednn}"
