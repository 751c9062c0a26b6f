"""Whether this CPU is like the one the bit-level references were made on.

The shared training-step references and tests/data/torchvision_deform_conv2d.pt were made with
torch's own kernels on an AMD EPYC with AVX-512 (the authors' code gives the shared files back
bit for bit on such a machine: docs/training-parity.md). oneDNN's convolutions and MKL's matrix
products pick their code by the CPU's vendor and width, and round by it, so on another CPU those
bits are not expected, and the checks that need them skip, saying so.
"""

from __future__ import annotations

from pathlib import Path

import torch


def unlike_the_reference_cpu() -> str | None:
    """None on an AMD CPU with AVX-512; else why bit-level references made on one cannot be met here."""
    cpuinfo = Path("/proc/cpuinfo")
    vendor = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                   if line.startswith("vendor_id")), "unknown") if cpuinfo.is_file() else "unknown"
    if vendor == "AuthenticAMD" and torch.cpu._is_avx512_supported():
        return None
    return (f"the bit-level references were made on an AMD CPU with AVX-512 (docs/training-parity.md); this one "
            f"is {vendor}, AVX-512 {'yes' if torch.cpu._is_avx512_supported() else 'no'}, and its kernels round "
            "otherwise. Make a reference here with scripts/official_train_step.py")
