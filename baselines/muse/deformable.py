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
# The most images torchvision's CPU kernel puts in one matrix product.
PARALLEL_IMAGES = 32


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
    y, x = _sampling_points(offset, kernel, stride, padding, dilation)

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


def _sampling_points(
    offset: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[Tensor, Tensor]:
    """(y, x), each [B, G, taps, H_out, W_out]: output position times stride, minus padding, plus the tap
    times dilation (whole numbers, exact), plus the offset [B, G, taps, 2, H_out, W_out]: one rounding, as
    torchvision's kernel computes them."""
    out_h, out_w = offset.shape[-2:]
    options = {"dtype": offset.dtype, "device": offset.device}
    tap_row = torch.arange(kernel[0], **options).repeat_interleave(kernel[1]) * dilation[0]
    tap_column = torch.arange(kernel[1], **options).repeat(kernel[0]) * dilation[1]
    out_row = torch.arange(out_h, **options) * stride[0] - padding[0]
    out_column = torch.arange(out_w, **options) * stride[1] - padding[1]
    y = (out_row.view(1, -1, 1) + tap_row.view(-1, 1, 1)) + offset[:, :, :, 0]
    x = (out_column.view(1, 1, -1) + tap_column.view(-1, 1, 1)) + offset[:, :, :, 1]
    return y, x


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


def deform_conv2d_upstream_order(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """`deform_conv2d` computed in the order of torchvision's CPU kernel, the authors' operator.

    The same function, rounded as torchvision rounds it: each sample is ((w1 v1 + w2 v2) + w3 v3) + w4 v4;
    an offset's gradient sums its channels one after another; an input pixel's gradient adds its
    contributions tap by tap, each output position in raster order, with the weights
    (1 - |y - y'|)(1 - |x - x'|) of the backward kernel. `deform_conv2d` sums in faster orders, and
    AdamW's first steps turn that rounding into weights: three training steps of MUSE from the same
    state end with 31% of the weights more than 1e-5 apart from the authors' code, in this order
    0.06% (docs/training-parity.md). Slower; for the parity check and `--numerics upstream`.
    """
    geometry = _Geometry.of(input, offset, weight, stride, padding, dilation)
    output = _TorchvisionOrder.apply(input, offset, weight, geometry)
    if bias is not None:
        output = output + bias.view(1, -1, 1, 1)
    return output


class _Geometry:
    """Sizes and the sampling positions of one deformable convolution."""

    def __init__(self, input_shape, offset_shape, weight_shape, stride, padding, dilation) -> None:
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.batch, self.in_channels, self.height, self.width = input_shape
        self.out_channels, self.channels_per_group, kernel_h, kernel_w = weight_shape
        self.kernel = (kernel_h, kernel_w)
        self.taps = kernel_h * kernel_w
        self.out_h = (self.height + 2 * self.padding[0] - self.dilation[0] * (kernel_h - 1) - 1) // self.stride[0] + 1
        self.out_w = (self.width + 2 * self.padding[1] - self.dilation[1] * (kernel_w - 1) - 1) // self.stride[1] + 1
        self.groups, self.offset_groups = _groups(input_shape, offset_shape, weight_shape, (self.out_h, self.out_w))

    @classmethod
    def of(cls, input: Tensor, offset: Tensor, weight: Tensor, stride, padding, dilation) -> _Geometry:
        return cls(input.shape, offset.shape, weight.shape, stride, padding, dilation)

    def positions(self, offset: Tensor) -> tuple[Tensor, Tensor]:
        """(y, x) sampling points, each [B, G, taps, H_out * W_out]: the integer grid plus the offset."""
        grid = self.offset_groups, self.taps, 2, self.out_h, self.out_w
        offset = offset.reshape(self.batch, *grid)
        y, x = _sampling_points(offset, self.kernel, self.stride, self.padding, self.dilation)
        shape = (self.batch, self.offset_groups, self.taps, self.out_h * self.out_w)
        return y.reshape(shape), x.reshape(shape)


def _neighbours(input: Tensor, geometry: _Geometry, y: Tensor, x: Tensor) -> tuple[list[Tensor], list[Tensor], list]:
    """The four integer neighbours of every point: their values [B, G, C / G, taps * N] (0 outside the map),
    their rows and columns [B, G, taps * N], and their flat indices into the map."""
    batch, groups = geometry.batch, geometry.offset_groups
    channels = geometry.in_channels // groups
    y_low, x_low = y.floor(), x.floor()
    flat = input.reshape(batch, groups, channels, geometry.height * geometry.width)
    values, rows, columns, indices = [], [], [], []
    for row in (y_low, y_low + 1):
        for column in (x_low, x_low + 1):
            inside = (row >= 0) & (row < geometry.height) & (column >= 0) & (column < geometry.width)
            index = (row.clamp(0, geometry.height - 1) * geometry.width + column.clamp(0, geometry.width - 1)).long()
            index = index.reshape(batch, groups, -1)
            gathered = torch.gather(flat, 3, _expand_index(index, channels))
            values.append(gathered * inside.reshape(batch, groups, 1, -1).to(input.dtype))
            rows.append(row.reshape(batch, groups, -1))
            columns.append(column.reshape(batch, groups, -1))
            indices.append((index, inside.reshape(batch, groups, -1)))
    return values, rows, columns, indices


def _columns(values: list[Tensor], geometry: _Geometry, y: Tensor, x: Tensor) -> Tensor:
    """torchvision's im2col from the neighbours' `values` (`_neighbours`): [B, G, C / G, taps * N], each sample
    ((w1 v1 + w2 v2) + w3 v3) + w4 v4, 0 for a point outside (-1, H) x (-1, W)."""
    batch, groups = geometry.batch, geometry.offset_groups
    y_low, x_low = y.floor(), x.floor()
    fraction_y, fraction_x = y - y_low, x - x_low
    rest_y, rest_x = 1 - fraction_y, 1 - fraction_x
    inside = ((y > -1) & (y < geometry.height) & (x > -1) & (x < geometry.width)).to(values[0].dtype)
    weights = (rest_y * rest_x, rest_y * fraction_x, fraction_y * rest_x, fraction_y * fraction_x)
    columns = None
    for value, corner_weight in zip(values, weights, strict=True):
        term = torch.mul(value, (corner_weight * inside).reshape(batch, groups, 1, -1))
        columns = term if columns is None else torch.add(columns, term)
    return columns


class _TorchvisionOrder(torch.autograd.Function):
    """The deformable convolution, forward and backward, in torchvision's CPU order (no bias, no mask)."""

    @staticmethod
    def forward(ctx, input: Tensor, offset: Tensor, weight: Tensor, geometry: _Geometry) -> Tensor:
        ctx.save_for_backward(input, offset, weight)
        ctx.geometry = geometry
        y, x = geometry.positions(offset)
        values, _, _, _ = _neighbours(input, geometry, y, x)
        return _convolve(_columns(values, geometry, y, x), weight, geometry)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        input, offset, weight = ctx.saved_tensors
        geometry: _Geometry = ctx.geometry
        y, x = geometry.positions(offset)
        batch, groups, out_positions = geometry.batch, geometry.groups, geometry.out_h * geometry.out_w
        per_group = geometry.channels_per_group * geometry.taps
        # grad of the columns: weight^T @ grad_output, per chunk of images and convolution group
        images = _images_per_product(batch)
        grad_output = grad_output.reshape(batch, groups, geometry.out_channels // groups, out_positions)
        grad_output = _images_together(grad_output, images)
        transposed = weight.reshape(groups, -1, per_group).transpose(1, 2)
        grad_columns = grad_output.new_zeros(grad_output.shape[0], groups, per_group, grad_output.shape[-1])
        for chunk in range(grad_output.shape[0]):
            for group in range(groups):
                grad_columns[chunk, group].addmm_(transposed[group], grad_output[chunk, group])
        grad_columns = _images_apart(grad_columns, images)
        grad_columns = grad_columns.reshape(batch, geometry.offset_groups, -1, geometry.taps * out_positions)
        grad_input = grad_offset = grad_weight = None
        values, rows, columns, indices = _neighbours(input, geometry, y, x)  # gathered once for all three
        if ctx.needs_input_grad[0]:
            grad_input = _grad_input(geometry, grad_columns, y, x, rows, columns, indices)
        if ctx.needs_input_grad[1]:
            grad_offset = _grad_offset(geometry, grad_columns, y, x, values)
        if ctx.needs_input_grad[2]:
            sampled = _columns(values, geometry, y, x).reshape(batch, groups, per_group, out_positions)
            sampled = _images_together(sampled, images)
            grad_weight = weight.new_zeros(groups, geometry.out_channels // groups, per_group)
            for chunk in range(sampled.shape[0]):
                for group in range(groups):
                    grad_weight[group].addmm_(grad_output[chunk, group], sampled[chunk, group].transpose(0, 1))
            grad_weight = grad_weight.reshape(weight.shape)
        return grad_input, grad_offset, grad_weight, None


def _images_together(tensor: Tensor, images: int) -> Tensor:
    """[B, G, rows, N] -> [B / images, G, rows, images * N]: the images of a chunk side by side in the columns,
    as torchvision lays them out for one matrix product."""
    batch, groups, rows, positions = tensor.shape
    chunks = tensor.reshape(batch // images, images, groups, rows, positions).permute(0, 2, 3, 1, 4)
    return chunks.reshape(batch // images, groups, rows, images * positions)


def _images_apart(tensor: Tensor, images: int) -> Tensor:
    """The inverse of `_images_together`."""
    chunks, groups, rows, columns = tensor.shape
    split = tensor.reshape(chunks, groups, rows, images, columns // images).permute(0, 3, 1, 2, 4)
    return split.reshape(chunks * images, groups, rows, columns // images)


def _images_per_product(batch: int) -> int:
    """How many images torchvision (0.29) puts in one matrix product: the largest divisor of the batch up to
    32. The products' sums round differently for another count."""
    return max(count for count in range(1, min(batch, PARALLEL_IMAGES) + 1) if batch % count == 0)


def _convolve(columns: Tensor, weight: Tensor, geometry: _Geometry) -> Tensor:
    """weight @ columns, one matrix product per chunk of images and convolution group added onto zeros, as
    torchvision calls them (a batched product rounds otherwise): [B, C_out, H_out, W_out]."""
    batch, groups = geometry.batch, geometry.groups
    images = _images_per_product(batch)
    columns = columns.reshape(batch, groups, geometry.channels_per_group * geometry.taps, -1)
    columns = _images_together(columns, images)
    weight = weight.reshape(groups, geometry.out_channels // groups, -1)
    output = columns.new_zeros(columns.shape[0], groups, geometry.out_channels // groups, columns.shape[-1])
    for chunk in range(columns.shape[0]):
        for group in range(groups):
            output[chunk, group].addmm_(weight[group], columns[chunk, group])
    output = _images_apart(output, images)
    return output.reshape(batch, geometry.out_channels, geometry.out_h, geometry.out_w)


def _grad_offset(geometry: _Geometry, grad_columns: Tensor, y: Tensor, x: Tensor, values: list[Tensor]) -> Tensor:
    """Each offset's gradient: the sum, channel after channel, of the sample's slope times the column's
    gradient; the slope along y is dx (v_YX - v_yX) + (1 - dx)(v_Yx - v_yx), along x likewise."""
    batch, groups, taps = geometry.batch, geometry.offset_groups, geometry.taps
    top_left, top_right, bottom_left, bottom_right = values
    fraction_y = (y - y.floor()).reshape(batch, groups, 1, -1)
    fraction_x = (x - x.floor()).reshape(batch, groups, 1, -1)
    slope_y = fraction_x * (bottom_right - top_right) + (1 - fraction_x) * (bottom_left - top_left)
    slope_x = fraction_y * (bottom_right - bottom_left) + (1 - fraction_y) * (top_right - top_left)
    grads = []
    for slope in (slope_y, slope_x):
        total = slope[:, :, 0] * grad_columns[:, :, 0]
        for channel in range(1, slope.shape[2]):
            total = total + slope[:, :, channel] * grad_columns[:, :, channel]
        grads.append(total.reshape(batch, groups, taps, geometry.out_h, geometry.out_w))
    # offset layout: [B, G * taps * 2, H_out, W_out], (dy, dx) per tap
    return torch.stack(grads, dim=3).reshape(batch, groups * taps * 2, geometry.out_h, geometry.out_w)


def _grad_input(
    geometry: _Geometry, grad_columns: Tensor, y: Tensor, x: Tensor, rows: list, columns: list, indices: list
) -> Tensor:
    """Each input pixel's gradient: its contributions (1 - |y - y'|)(1 - |x - x'|) * column gradient, added
    one by one in the order tap, output position (torchvision's col2im)."""
    batch, groups = geometry.batch, geometry.offset_groups
    channels = geometry.in_channels // groups
    y, x = y.reshape(batch, groups, 1, -1), x.reshape(batch, groups, 1, -1)
    contributions, targets = [], []
    for row, column, (index, inside) in zip(rows, columns, indices, strict=True):
        corner_weight = (1 - (y - row.unsqueeze(2)).abs()) * (1 - (x - column.unsqueeze(2)).abs())
        contributions.append(corner_weight * grad_columns * inside.unsqueeze(2).to(grad_columns.dtype))
        targets.append(index)
    # interleave the four corners so that each pixel receives its contributions source by source
    contribution = torch.stack(contributions, dim=4).reshape(batch, groups, channels, -1)
    target = torch.stack(targets, dim=3).reshape(batch, groups, -1)
    grad_input = torch.zeros(batch, groups, channels, geometry.height * geometry.width, dtype=grad_columns.dtype,
                             device=grad_columns.device)
    grad_input.scatter_add_(3, _expand_index(target, channels), contribution)
    return grad_input.reshape(batch, geometry.in_channels, geometry.height, geometry.width)


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

    upstream_order = False
    """Compute in torchvision's CPU order of operations (`imse.upstream.use_upstream_order`)."""

    def forward(self, input: Tensor, offset: Tensor) -> Tensor:
        if self.upstream_order:
            return deform_conv2d_upstream_order(
                input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation
            )
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation)
