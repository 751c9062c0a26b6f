"""baselines.muse.deformable against a per-point reference and against torchvision's rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines.muse.deformable import DeformConv2d, deform_conv2d, deform_conv2d_upstream_order
from tests.dummies.cpu import unlike_the_reference_cpu
from tests.dummies.reference_deformable import reference_deform_conv2d

TORCHVISION_BITS = Path(__file__).parent / "data" / "torchvision_deform_conv2d.pt"
"""torchvision 0.29.1's output and gradients on a small MUSE-like case (scripts/torchvision_deform_reference.py)."""

# Ours, and the same function in torchvision's CPU order (bit for bit torchvision's in float32: the MUSE
# parity check, tests/test_train_parity.py, fails with 31% of the weights apart without it).
IMPLEMENTATIONS = {"fast": deform_conv2d, "torchvision_order": deform_conv2d_upstream_order}


@dataclass(frozen=True)
class Case:
    in_channels: int
    out_channels: int
    groups: int
    offset_groups: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: int
    padding: int
    dilation: int
    bias: bool


CASES = {
    "depthwise_like_muse": Case(4, 4, 4, 1, 5, 6, (3, 3), 1, 1, 1, False),
    "grouped_two_offset_groups_strided": Case(4, 6, 2, 2, 5, 4, (3, 3), 2, 1, 1, True),
    "dense_dilated_unpadded": Case(2, 3, 1, 1, 6, 5, (3, 3), 1, 0, 2, True),
    "rectangular_kernel": Case(3, 3, 3, 3, 4, 5, (1, 3), 1, 0, 1, False),
}


def make_case(name: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random float64 input, weight, bias and offsets up to +-3 (so many points fall outside
    the map), with the first output row's offsets rounded to integers so that points land
    exactly on the border and just outside it."""
    case = CASES[name]
    kernel_h, kernel_w = case.kernel
    generator = torch.Generator().manual_seed(seed)
    out_h = (case.height + 2 * case.padding - case.dilation * (kernel_h - 1) - 1) // case.stride + 1
    out_w = (case.width + 2 * case.padding - case.dilation * (kernel_w - 1) - 1) // case.stride + 1
    options = {"dtype": torch.float64, "generator": generator}
    input = torch.randn(2, case.in_channels, case.height, case.width, **options)
    weight = torch.randn(case.out_channels, case.in_channels // case.groups, kernel_h, kernel_w, **options)
    bias = torch.randn(case.out_channels, **options) if case.bias else None
    offset = torch.rand(2, 2 * case.offset_groups * kernel_h * kernel_w, out_h, out_w, **options) * 6 - 3
    offset[:, :, 0] = offset[:, :, 0].round()
    return input, offset, weight, bias, case.stride, case.padding, case.dilation


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradients_match_reference(name: str, implementation: str) -> None:
    input, offset, weight, bias, stride, padding, dilation = make_case(name)
    leaves = [tensor.requires_grad_() for tensor in (input, offset, weight, bias) if tensor is not None]
    fast = IMPLEMENTATIONS[implementation](input, offset, weight, bias, stride, padding, dilation)
    slow = reference_deform_conv2d(input, offset, weight, bias, stride, padding, dilation)
    assert fast.shape == slow.shape
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)

    upstream = torch.randn(fast.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fast_grads = torch.autograd.grad(fast, leaves, upstream)
    slow_grads = torch.autograd.grad(slow, leaves, upstream)
    for fast_grad, slow_grad in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(fast_grad, slow_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
def test_gradcheck_depthwise_and_grouped(implementation: str) -> None:
    generator = torch.Generator().manual_seed(2)
    options = {"dtype": torch.float64, "generator": generator}
    for groups, out_channels in ((4, 4), (2, 2)):
        input = torch.randn(1, 4, 4, 3, **options).requires_grad_()
        weight = torch.randn(out_channels, 4 // groups, 3, 3, **options).requires_grad_()
        bias = torch.randn(out_channels, **options).requires_grad_()
        # Keep every point at least 0.1 from an integer: bilinear sampling has kinks there.
        offset = torch.randint(-2, 2, (1, 18, 4, 3), **options) + 0.1 + 0.8 * torch.rand(1, 18, 4, 3, **options)
        offset.requires_grad_()
        assert torch.autograd.gradcheck(
            lambda i, o, w, b: IMPLEMENTATIONS[implementation](i, o, w, b, padding=1), (input, offset, weight, bias)
        )


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_zero_offsets_equal_plain_convolution(groups: int) -> None:
    generator = torch.Generator().manual_seed(3)
    input = torch.randn(2, 4, 7, 9, generator=generator)
    weight = torch.randn(4, 4 // groups, 3, 3, generator=generator)
    bias = torch.randn(4, generator=generator)
    offset = torch.zeros(2, 18, 4, 5)
    expected = F.conv2d(input, weight, bias, stride=2, padding=1, dilation=1, groups=groups)
    torch.testing.assert_close(deform_conv2d(input, offset, weight, bias, stride=2, padding=1), expected)


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
def test_border_follows_torchvision(implementation: str) -> None:
    """A 1x1 tap moved by exactly -1 row samples y = -1 (value 0, yet d/dy = the row below,
    as torchvision's coordinate weight has it); moved to y = H samples nothing at all."""
    image = torch.arange(1.0, 7.0, dtype=torch.float64).view(1, 1, 2, 3)
    weight = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    offset = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    offset[0, 0, 0] = -1.0  # row 0 -> y = -1
    offset[0, 0, 1] = 1.0  # row 1 -> y = 2 = H
    offset.requires_grad_()
    output = IMPLEMENTATIONS[implementation](image, offset, weight)
    assert torch.equal(output.detach(), torch.zeros(1, 1, 2, 3, dtype=torch.float64))
    (grad,) = torch.autograd.grad(output.sum(), offset)
    torch.testing.assert_close(grad[0, 0, 0], image[0, 0, 0])
    assert torch.equal(grad[0, 0, 1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(grad[0, 1], torch.zeros(2, 3, dtype=torch.float64))


def test_half_pixel_shift_is_the_neighbour_mean() -> None:
    image = torch.tensor([[[[1.0, 3.0, 7.0]]]])
    offset = torch.zeros(1, 2, 1, 3)
    offset[0, 1] = 0.5
    output = deform_conv2d(image, offset, torch.ones(1, 1, 1, 1))
    # The last point sits halfway to a column outside the map, which counts as 0.
    torch.testing.assert_close(output, torch.tensor([[[[2.0, 5.0, 3.5]]]]))


def test_float32_agrees_with_float64() -> None:
    input, offset, weight, bias, stride, padding, dilation = make_case("depthwise_like_muse", seed=4)
    exact = deform_conv2d(input, offset, weight, bias, stride, padding, dilation)
    single = deform_conv2d(input.float(), offset.float(), weight.float(), None, stride, padding, dilation)
    torch.testing.assert_close(single.double(), exact, rtol=1e-5, atol=1e-5)


def test_rejects_mismatched_offsets() -> None:
    with pytest.raises(ValueError, match="offset must be"):
        deform_conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(1, 17, 5, 5), torch.zeros(2, 1, 3, 3), padding=1)
    with pytest.raises(ValueError, match="offset must be"):
        deform_conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(1, 18, 4, 5), torch.zeros(2, 1, 3, 3), padding=1)


def test_module_holds_torchvision_shaped_weight() -> None:
    layer = DeformConv2d(16, 16, 3, padding=1, groups=16, bias=False)
    assert dict(layer.named_parameters()).keys() == {"weight"}
    assert layer.weight.shape == (16, 1, 3, 3)
    input = torch.randn(1, 16, 6, 5)
    torch.testing.assert_close(
        layer(input, torch.zeros(1, 18, 6, 5)), F.conv2d(input, layer.weight, padding=1, groups=16)
    )



def test_torchvision_order_chunks_images_as_torchvision_does() -> None:
    """torchvision (0.29) puts the largest divisor of the batch up to 32 images in one matrix product; the
    weight gradient's sums round by it, so the upstream order must chunk the same way."""
    from baselines.muse.deformable import _images_apart, _images_per_product, _images_together

    assert [_images_per_product(batch) for batch in (1, 2, 3, 4, 32, 33, 64, 70)] == [1, 2, 3, 4, 32, 11, 32, 14]
    tensor = torch.arange(2 * 3 * 2 * 5).view(6, 1, 2, 5)
    together = _images_together(tensor, 3)
    assert together.shape == (2, 1, 2, 15)
    assert torch.equal(together[0, 0, 1], torch.cat([tensor[image, 0, 1] for image in range(3)]))
    assert torch.equal(_images_apart(together, 3), tensor)


def test_torchvision_order_gives_torchvisions_bits(one_torch_thread):
    """Output and all three gradients equal, bit for bit, what torchvision 0.29.1 computed in the authors'
    environment: the float64 tests above cannot tell two orders of summation apart; this does (reverse the
    corners' sum, or sum the offsets' gradient with one .sum, and it fails). Our fast order does not give them."""
    reason = unlike_the_reference_cpu()
    if reason:
        pytest.skip(reason)
    case = torch.load(TORCHVISION_BITS, weights_only=False)
    for implementation, bit_for_bit in ((deform_conv2d_upstream_order, True), (deform_conv2d, False)):
        leaves = [case[name].clone().requires_grad_() for name in ("input", "offset", "weight")]
        output = implementation(leaves[0], leaves[1], leaves[2], None, padding=1)
        gradients = torch.autograd.grad(output, leaves, case["grad_output"])
        ours = dict(zip(("output", "grad_input", "grad_offset", "grad_weight"), (output.detach(), *gradients),
                        strict=True))
        equal = {name: torch.equal(value, case[name]) for name, value in ours.items()}
        assert all(equal.values()) if bit_for_bit else not all(equal.values()), equal
