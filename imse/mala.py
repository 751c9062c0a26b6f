"""IMSE's attention: magnitude-aware linear attention (MALA; Fan et al., ICCV 2025).

Linear in the number of time-frequency points N = T x F. Queries and keys go through
elu + 1; a 2-D rotary position embedding over (time, frequency) is applied to both after
the normaliser z is taken; a locally-enhanced positional encoding (LePE, a 5x5 depthwise
conv on the values) and an output gate complete it.

Computed in a [batch, heads, head_dim, N] layout, which is a free view of the 1x1 conv's
output: no rearranges and no transposed copies of the big tensors.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional

from imse.blocks import trains_fast


def rope_frequencies(head_dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Upstream's angle vector: head_dim // 4 frequencies 1 / 10000^linspace(0, 1), each twice
    (float32 as upstream; float64 for a float64 model, so that it is exact to that precision)."""
    angle = 1.0 / (10000 ** torch.linspace(0, 1, head_dim // 4, dtype=dtype))
    return angle.repeat_interleave(2)


ROTARY_CACHE_SIZE = 24
"""Table sets kept: each input length needs one per U-Net level (3), so this holds 8 lengths."""


@functools.lru_cache(maxsize=ROTARY_CACHE_SIZE)
def rotary_tables(
    head_dim: int, time: int, frequency: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """sin and cos tables of the 2-D rotary embedding, [head_dim, T * F].

    The first half of head_dim rotates with the time index, the second half with the
    frequency index, in pairs of adjacent channels. One cache for every block (all 28 of
    IMSE's share head_dim 8), bounded, so whole-utterance inference over many lengths does
    not pile up tables. Made outside inference mode, so a table first made while enhancing
    can still be saved for a backward pass later.
    """
    with torch.inference_mode(False):
        angle = rope_frequencies(head_dim, torch.float64 if dtype == torch.float64 else torch.float32).to(device)
        time_phase = torch.arange(time, device=device, dtype=angle.dtype)[:, None] * angle  # [T, d/2]
        frequency_phase = torch.arange(frequency, device=device, dtype=angle.dtype)[:, None] * angle
        phase = torch.cat(
            (
                time_phase[:, None, :].expand(time, frequency, -1),
                frequency_phase[None, :, :].expand(time, frequency, -1),
            ),
            dim=-1,
        ).reshape(time * frequency, -1)
        phase = phase.t().contiguous()  # [d, N]
        return torch.sin(phase).to(dtype), torch.cos(phase).to(dtype)


def _rotary_tables(
    head_dim: int, time: int, frequency: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached tables, except while the model is traced for export: then they are computed in
    the graph, so that an exported file carries no tables (nor cached tensors as constants)."""
    if torch.jit.is_tracing() or torch.compiler.is_exporting():
        return rotary_tables.__wrapped__(head_dim, time, frequency, device, dtype)
    return rotary_tables(head_dim, time, frequency, device, dtype)


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    """MALA's feature map, elu(x) + 1. In an ONNX export it is written relu(x) + exp(min(x, 0)), the same
    function (exp(x) against expm1(x) + 1: within an ulp) in ops onnxruntime runs 3x as fast as its Elu
    (0.54 against 1.58 ms on [1, 2, 8, 39424], one thread; 56 calls in IMSE). torch keeps elu + 1, the
    bits that trained weights depend on."""
    if torch.onnx.is_in_onnx_export():
        return functional.relu(x) + torch.exp(torch.clamp(x, max=0))
    return functional.elu(x) + 1


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...) along the head_dim axis (dim -2)."""
    pairs = x.unflatten(-2, (-1, 2))
    return torch.stack((-pairs[..., 1, :], pairs[..., 0, :]), dim=-2).flatten(-3, -2)


def _rotate_pairs_last(x: torch.Tensor) -> torch.Tensor:
    """`rotate_pairs` along the last axis, written as upstream writes it (strided slices, then a stack):
    the same values, and a backward pass that sums in upstream's order."""
    return torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)


class MagnitudeAwareLinearAttention(nn.Module):
    """MALA with `heads` heads. IMSE uses heads = dim // 8, so head_dim is 8 at every level."""

    upstream_names: ClassVar[dict[str, str]] = {"qkvo": "mala.qkvo", "lepe": "mala.lepe", "projection": "mala.proj"}
    upstream_constants: ClassVar[dict[str, str]] = {"rope.angle": "rope_angle"}

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"MALA: dim {dim} is not divisible by {heads} heads")
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        if self.head_dim % 4:
            raise ValueError(f"MALA: head_dim {self.head_dim} must be a multiple of 4 for the 2-D rotary embedding")
        self.scale = self.head_dim**-0.5
        self.qkvo = nn.Conv2d(dim, dim * 4, 1)
        self.lepe = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.projection = nn.Conv2d(dim, dim, 1)
        self.register_buffer("rope_angle", rope_frequencies(self.head_dim), persistent=False)

    upstream_order = False
    """Compute in upstream's layout and order of operations (`imse.upstream.use_upstream_order`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upstream_order:
            return self._upstream_forward(x)
        batch, channels, time, frequency = x.shape
        points = time * frequency
        query, key, value, gate = self.qkvo(x).chunk(4, dim=1)
        if trains_fast(self, value):  # oneDNN's depthwise backward is about 3x faster in channels-last memory
            lepe = self.lepe(value.contiguous(memory_format=torch.channels_last)).contiguous()
        else:
            lepe = self.lepe(value)
        shape = (batch, self.heads, self.head_dim, points)
        query = elu_plus_one(query.reshape(shape))
        key = elu_plus_one(key.reshape(shape))
        value = value.reshape(shape)

        # z = q . mean(k) * d^-0.5, before the rotary embedding: [batch, heads, 1, N]
        key_mean = key.mean(dim=-1, keepdim=True)
        z = torch.matmul(key_mean.transpose(-1, -2), query) * self.scale

        sin, cos = _rotary_tables(self.head_dim, time, frequency, x.device, x.dtype)
        query = query * cos + rotate_pairs(query) * sin
        key = key * cos + rotate_pairs(key) * sin

        # kv = (k^T sqrt(s/N)) (v sqrt(s/N)), as [batch, heads, d_value, d_key]
        key_value = torch.matmul(value, key.transpose(-1, -2)) * (self.scale / points)
        output = torch.matmul(key_value, query) * (1 + 1 / (z + 1e-6))
        output = output - z * value.mean(dim=-1, keepdim=True)
        output = output.reshape(batch, channels, time, frequency) + lepe
        return self.projection(output * gate)

    def _upstream_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upstream's: queries, keys and values as [batch, heads, N, head_dim], kv scaled before its product,
        the means taken along N in that layout; the same values as `forward`, other rounding."""
        batch, channels, time, frequency = x.shape
        points = time * frequency
        projected = self.qkvo(x)
        query_key_value, gate = projected[:, : 3 * channels], projected[:, 3 * channels :]
        lepe = self.lepe(query_key_value[:, 2 * channels :])
        query, key, value = (
            query_key_value.reshape(batch, 3, self.heads, self.head_dim, time, frequency)
            .permute(1, 0, 2, 4, 5, 3)
            .reshape(3, batch, self.heads, points, self.head_dim)
        )
        query, key = elu_plus_one(query), elu_plus_one(key)
        z = query @ key.mean(dim=-2, keepdim=True).transpose(-2, -1) * self.scale
        sin, cos = (table.t() for table in _rotary_tables(self.head_dim, time, frequency, x.device, x.dtype))
        query = query * cos + _rotate_pairs_last(query) * sin
        key = key * cos + _rotate_pairs_last(key) * sin
        root = (self.scale / points) ** 0.5
        key_value = (key.transpose(-2, -1) * root) @ (value * root)
        output = query @ key_value * (1 + 1 / (z + 1e-6)) - z * value.mean(dim=2, keepdim=True)
        output = output.reshape(batch, self.heads, time, frequency, self.head_dim).permute(0, 1, 4, 2, 3)
        return self.projection((output.reshape(batch, channels, time, frequency) + lepe) * gate)
