"""Deformable 2-D convolution (v1, no modulation mask) in plain PyTorch.

The torchvision build on PyPI does not load beside this project's torch, so MUSE's
deformable embedding needs its own operator. `deform_conv2d` follows
`torchvision.ops.deform_conv2d` without a mask: the same offset layout, the same bilinear
sampling with zeros outside the map, and the same gradients, including torchvision's choice
at exact integer coordinates (the floor's side). Every tap and pixel is sampled at once with
one gather per bilinear corner; no Python loop runs over taps or pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

# Bilinear corners in the order (top-left, top-right, bottom-left, bottom-right).
CORNERS = 4


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """Deformable convolution with torchvision's semantics (mask-free).

    input: [B, C_in, H, W]; weight: [C_out, C_in / groups, kh, kw]; the number of groups is
    C_in / weight.shape[1]. offset: [B, 2 * offset_groups * kh * kw, H_out, W_out], one
    (dy, dx) pair per kernel tap in row-major tap order, offset group by offset group; the
    C_in channels are split into offset_groups consecutive runs that share offsets.

    A tap of output (i, j) samples the input at
    y = i * stride - padding + tap_row * dilation + dy (x likewise) by bilinear
    interpolation, where each of the four integer neighbours outside the map counts as 0,
    so a point with y <= -1, y >= H, x <= -1 or x >= W gives 0.
    """
    stride_h, stride_w = _pair(stride)
    padding_h, padding_w = _pair(padding)
    dilation_h, dilation_w = _pair(dilation)
    batch, in_channels, height, width = input.shape
    out_channels, channels_per_group, kernel_h, kernel_w = weight.shape
    taps = kernel_h * kernel_w
    out_h = (height + 2 * padding_h - dilation_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width + 2 * padding_w - dilation_w * (kernel_w - 1) - 1) // stride_w + 1
    groups, offset_groups = _groups(input.shape, offset.shape, weight.shape, (out_h, out_w))

    index, coefficient = _bilinear_corners(
        offset.reshape(batch, offset_groups, taps, 2, out_h, out_w),
        (height, width),
        (kernel_h, kernel_w),
        (stride_h, stride_w),
        (padding_h, padding_w),
        (dilation_h, dilation_w),
    )
    # One zero ring around the map holds every out-of-map neighbour of an in-range point.
    padded = F.pad(input, (1, 1, 1, 1)).view(batch, offset_groups, in_channels // offset_groups, -1)
    if torch.is_grad_enabled() and (padded.requires_grad or coefficient.requires_grad):
        columns = _BilinearGather.apply(padded, index, coefficient)
    else:
        columns = _sample(padded, index, coefficient)
    # columns: [B, G, C_in / G, taps * H_out * W_out], so each conv group's rows are adjacent.
    columns = columns.view(batch, groups, channels_per_group * taps, out_h * out_w)
    output = torch.matmul(weight.reshape(groups, out_channels // groups, channels_per_group * taps), columns)
    output = output.view(batch, out_channels, out_h, out_w)
    if bias is not None:
        output = output + bias.view(1, -1, 1, 1)
    return output


def _groups(
    input_shape: torch.Size, offset_shape: torch.Size, weight_shape: torch.Size, output_size: tuple[int, int]
) -> tuple[int, int]:
    """(convolution groups, offset groups) implied by the shapes; a shape that fits none is refused."""
    batch, in_channels = input_shape[:2]
    out_channels, channels_per_group, kernel_h, kernel_w = weight_shape
    taps = kernel_h * kernel_w
    if in_channels % channels_per_group != 0:
        raise ValueError(f"weight takes {channels_per_group} channels per group, input has {in_channels}")
    groups = in_channels // channels_per_group
    if out_channels % groups != 0:
        raise ValueError(f"{out_channels} output channels do not split into {groups} groups")
    if offset_shape[1] % (2 * taps) != 0 or tuple(offset_shape[2:]) != output_size or offset_shape[0] != batch:
        expected = f"[{batch}, 2 * offset_groups * {taps}, {output_size[0]}, {output_size[1]}]"
        raise ValueError(f"offset must be {expected}, got {tuple(offset_shape)}")
    offset_groups = offset_shape[1] // (2 * taps)
    if in_channels % offset_groups != 0:
        raise ValueError(f"{in_channels} input channels do not split into {offset_groups} offset groups")
    return groups, offset_groups


def _bilinear_corners(
    offset: Tensor,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[Tensor, Tensor]:
    """Flat indices into the zero-ringed map and bilinear weights of the four neighbours.

    offset: [B, G, taps, 2, H_out, W_out]. Returns index (int64) and coefficient, both
    [B, G, 4, taps * H_out * W_out]. A neighbour outside the map falls in the zero ring. A
    point with no neighbour inside (floor(y) < -1 or >= H, likewise x) gets weight 0 and a
    clamped, harmless index, so it gives 0 and passes no gradient, as in torchvision.
    Gradients reach the offsets through the fractional parts only.
    """
    height, width = size
    batch, offset_groups, taps, _, out_h, out_w = offset.shape
    options = {"dtype": offset.dtype, "device": offset.device}
    tap_row = torch.arange(kernel[0], **options).repeat_interleave(kernel[1]) * dilation[0]
    tap_column = torch.arange(kernel[1], **options).repeat(kernel[0]) * dilation[1]
    out_row = torch.arange(out_h, **options) * stride[0] - padding[0]
    out_column = torch.arange(out_w, **options) * stride[1] - padding[1]
    y = (out_row.view(1, -1, 1) + tap_row.view(-1, 1, 1)) + offset[:, :, :, 0]
    x = (out_column.view(1, 1, -1) + tap_column.view(-1, 1, 1)) + offset[:, :, :, 1]

    y_low = y.detach().floor()
    x_low = x.detach().floor()
    inside = ((y_low >= -1) & (y_low < height) & (x_low >= -1) & (x_low < width)).to(offset.dtype)
    fraction_y = y - y_low
    fraction_x = x - x_low
    upper = (1 - fraction_y) * inside
    lower = fraction_y * inside
    coefficient = torch.stack(
        (upper * (1 - fraction_x), upper * fraction_x, lower * (1 - fraction_x), lower * fraction_x), dim=2
    )

    padded_width = width + 2
    row = (y_low.clamp(-1, height - 1) + 1).long()
    column = (x_low.clamp(-1, width - 1) + 1).long()
    top_left = row * padded_width + column
    index = torch.stack((top_left, top_left + 1, top_left + padded_width, top_left + padded_width + 1), dim=2)
    shape = (batch, offset_groups, CORNERS, taps * out_h * out_w)
    return index.view(shape), coefficient.view(shape)


class _BilinearGather(torch.autograd.Function):
    """Bilinear sampling of every tap: columns[b, g, c, n] = sum over the corners j of
    coefficient[b, g, j, n] * padded[b, g, c, index[b, g, j, n]].

    Written out by hand so that the corners accumulate in place in one buffer, and the
    backward pass gathers them again instead of keeping them: on a CPU, fresh tensors of
    this size cost more than the gathers, and autograd through a broadcast product over the
    channel axis costs several times the time and memory.
    """

    @staticmethod
    def forward(ctx, padded: Tensor, index: Tensor, coefficient: Tensor) -> Tensor:
        ctx.save_for_backward(padded, index, coefficient)
        return _sample(padded, index, coefficient)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_columns: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
        padded, index, coefficient = ctx.saved_tensors
        channels = padded.shape[2]
        grad_padded = grad_coefficient = None
        buffer = torch.empty_like(grad_columns)
        if ctx.needs_input_grad[0]:
            grad_padded = torch.zeros_like(padded)
            for corner in range(CORNERS):
                torch.mul(grad_columns, coefficient[:, :, corner].unsqueeze(2), out=buffer)
                grad_padded.scatter_add_(3, _expand_index(index[:, :, corner], channels), buffer)
        if ctx.needs_input_grad[2]:
            grad_coefficient = torch.empty_like(coefficient)
            for corner in range(CORNERS):
                torch.gather(padded, 3, _expand_index(index[:, :, corner], channels), out=buffer)
                torch.sum(buffer.mul_(grad_columns), 2, out=grad_coefficient[:, :, corner])
        return grad_padded, None, grad_coefficient


def _sample(padded: Tensor, index: Tensor, coefficient: Tensor) -> Tensor:
    """columns [B, G, C_in / G, N]; one buffer takes the other three gathered corners in turn."""
    channels = padded.shape[2]
    columns = torch.gather(padded, 3, _expand_index(index[:, :, 0], channels))
    columns.mul_(coefficient[:, :, 0].unsqueeze(2))
    # ONNX has no gather into a given buffer: traced for export, each corner gets a fresh tensor.
    buffer = None if torch.jit.is_tracing() else torch.empty_like(columns)
    for corner in range(1, CORNERS):
        gathered = torch.gather(padded, 3, _expand_index(index[:, :, corner], channels), out=buffer)
        columns.addcmul_(gathered, coefficient[:, :, corner].unsqueeze(2))
    return columns


def _expand_index(index: Tensor, channels: int) -> Tensor:
    """[B, G, N] flat indices, broadcast (no copy) over the channels of an offset group."""
    return index.unsqueeze(2).expand(-1, -1, channels, -1)


class DeformConv2d(nn.Module):
    """Deformable convolution layer; the offsets come in with each call.

    Holds `weight` [out, in / groups, kh, kw] and an optional `bias`, initialised as
    torchvision's DeformConv2d does.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels % groups != 0 or out_channels % groups != 0:
            raise ValueError(f"channels {in_channels}->{out_channels} do not split into {groups} groups")
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *_pair(kernel_size)))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight and fan-in uniform bias, torchvision's defaults."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor, offset: Tensor) -> Tensor:
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation)
