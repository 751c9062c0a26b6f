"""A slow, obviously correct deformable convolution to check the fast one against.

It walks every output position and kernel tap and samples with a per-point bilinear function,
following torchvision's definition: each of the four integer neighbours outside the map
counts as 0. Gradients come from autograd through these scalar steps, which at an exact
integer coordinate take the floor's side (y = -1 still passes a gradient to row 0), as
torchvision's backward kernel does.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def bilinear(image: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """image [C, H, W] at the real point (y, x): [C]; neighbours outside the map count as 0."""
    channels, height, width = image.shape
    row_low, column_low = math.floor(y.item()), math.floor(x.item())
    fraction_y, fraction_x = y - row_low, x - column_low
    value = image.new_zeros(channels)
    for row, weight_y in ((row_low, 1 - fraction_y), (row_low + 1, fraction_y)):
        for column, weight_x in ((column_low, 1 - fraction_x), (column_low + 1, fraction_x)):
            if 0 <= row < height and 0 <= column < width:
                value = value + weight_y * weight_x * image[:, row, column]
    return value


def reference_deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> Tensor:
    """torchvision.ops.deform_conv2d without a mask, one output position and tap at a time."""
    batch, in_channels, height, width = input.shape
    out_channels, channels_per_group, kernel_h, kernel_w = weight.shape
    groups = in_channels // channels_per_group
    outputs_per_group = out_channels // groups
    out_h = (height + 2 * padding - dilation * (kernel_h - 1) - 1) // stride + 1
    out_w = (width + 2 * padding - dilation * (kernel_w - 1) - 1) // stride + 1
    offset_groups = offset.shape[1] // (2 * kernel_h * kernel_w)
    channels_per_offset_group = in_channels // offset_groups

    output = input.new_zeros(batch, out_channels, out_h, out_w)
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                value = input.new_zeros(out_channels)
                for tap_row in range(kernel_h):
                    for tap_column in range(kernel_w):
                        tap = tap_row * kernel_w + tap_column
                        sampled = []
                        for group in range(offset_groups):
                            channel = 2 * (group * kernel_h * kernel_w + tap)
                            y = i * stride - padding + tap_row * dilation + offset[b, channel, i, j]
                            x = j * stride - padding + tap_column * dilation + offset[b, channel + 1, i, j]
                            first = group * channels_per_offset_group
                            sampled.append(bilinear(input[b, first : first + channels_per_offset_group], y, x))
                        columns = torch.cat(sampled).view(groups, channels_per_group)
                        columns = columns.repeat_interleave(outputs_per_group, dim=0)  # [out, in / groups]
                        value = value + (weight[:, :, tap_row, tap_column] * columns).sum(1)
                output[b, :, i, j] = value
    if bias is not None:
        output = output + bias.view(1, -1, 1, 1)
    return output
