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

The variables only take effect if set before torch runs its first operator, so this module
must not import torch, and `bench/__init__.py` calls `pin_instruction_set()` first thing.
"""

from __future__ import annotations

import os

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def pin_instruction_set() -> None:
    """Set the variables in PINNED where the environment does not set them already."""
    for name, value in PINNED.items():
        os.environ.setdefault(name, value)


def instruction_set() -> str:
    """The instruction set torch's CPU kernels run with in this process (e.g. 'AVX2')."""
    import torch

    return torch.backends.cpu.get_cpu_capability()
