"""Make the fixture that pins `deform_conv2d_upstream_order` to torchvision's bits.

    /path/to/official-env/bin/python scripts/torchvision_deform_reference.py \
        --output tests/data/torchvision_deform_conv2d.pt

MUSE's parity with the authors' training step needs our deformable convolution to round as
torchvision's CPU kernel does (docs/training-parity.md). torchvision does not load beside this
project's torch, so it runs in the authors' environment (torch 2.14.1, torchvision 0.29.1):
this script draws a small MUSE-like case (batch 2, depthwise 3x3, offsets clamped to [-1, 1]
with some exactly -1, 0 and 1), and saves the inputs with torchvision's output and its three
gradients, float32, on one thread with torch's own kernels. It does not import this project.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch
import torchvision
from torchvision.ops import deform_conv2d


def reference_case() -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    batch, channels, height, width = 2, 8, 12, 10
    input = torch.randn(batch, channels, height, width)
    offset = (torch.randn(batch, 18, height, width) * 0.7).clamp(-1, 1)
    offset[:, :, :3, :3] = torch.tensor([-1.0, 0.0, 1.0])[torch.randint(0, 3, (batch, 18, 3, 3))]
    weight = torch.randn(channels, 1, 3, 3)
    grad_output = torch.randn(batch, channels, height, width)
    leaves = [tensor.clone().requires_grad_() for tensor in (input, offset, weight)]
    output = deform_conv2d(leaves[0], leaves[1], leaves[2], None, padding=1)
    grad_input, grad_offset, grad_weight = torch.autograd.grad(output, leaves, grad_output)
    return {
        "about": f"torchvision {torchvision.__version__} deform_conv2d, torch {torch.__version__}, 1 thread, "
                 f"{platform.processor() or platform.machine()}, CPU capability "
                 f"{torch.backends.cpu.get_cpu_capability()}; made by scripts/torchvision_deform_reference.py",
        "input": input, "offset": offset, "weight": weight, "grad_output": grad_output,
        "output": output.detach(), "grad_input": grad_input, "grad_offset": grad_offset, "grad_weight": grad_weight,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args()
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference_case(), arguments.output)
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
