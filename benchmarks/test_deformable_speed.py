"""Our deformable convolution at MUSE's largest map: forward and backward on one thread.

    python -m pytest benchmarks/test_deformable_speed.py --benchmark-enable

[2, 16, 308, 128] depthwise 3x3 is the shape of MUSE's first embedding in a training
step (batch 2 x 30,700 samples). The official code uses torchvision's kernel, which does
not load beside this project's torch; its speed is compared whole-model in
benchmarks/test_inference_speed.py and benchmarks/test_train_speed.py instead.
"""

from __future__ import annotations

import torch

from baselines.muse.deformable import deform_conv2d


def test_muse_sized_forward_backward(benchmark) -> None:
    generator = torch.Generator().manual_seed(5)
    input = torch.randn(2, 16, 308, 128, generator=generator, requires_grad=True)
    offset = (2 * torch.rand(2, 18, 308, 128, generator=generator) - 1).requires_grad_()
    weight = torch.randn(16, 1, 3, 3, generator=generator, requires_grad=True)

    def step() -> None:
        deform_conv2d(input, offset, weight, padding=1).sum().backward()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        benchmark.pedantic(step, rounds=10, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)
