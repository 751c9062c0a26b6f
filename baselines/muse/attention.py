"""MUSE's attention: first-order Taylor linear attention with a convolutional refinement gate.

Per head, with q and k L2-normalised over the head's channels at each of the N = T * F
positions, exp(q . k) is replaced by its first-order expansion 1 + q . k, which gives

    out_n = (sum_m v_m + (sum_m v_m k_m^T) q_n) / (N + q_n . sum_m k_m),

in O(N) time. The output is scaled by a learned per-head temperature and by a sigmoid gate
that grouped convolutions read off [q, k], then multiplied by a channel attention and a GELU'd
depthwise spatial branch, and projected.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Kernel size -> number of heads it gates, for each supported number of heads (upstream's table).
REFINE_WINDOWS: dict[int, dict[int, int]] = {
    1: {3: 1},
    2: {3: 2},
    4: {3: 2, 5: 2},
    8: {3: 2, 5: 3, 7: 3},
}
# Added to the L2 norms of q and k, and to the denominator, as upstream does.
EPSILON = 1e-6


class TaylorAttention(nn.Module):
    """MUSE's attention block: [B, dim, T, F] -> [B, dim, T, F], with `heads` in {1, 2, 4, 8}."""

    # Relative to the authors' transformer layer, whose attention module is named `attn`.
    upstream_names: ClassVar[dict[str, str]] = {
        "channel_attention.": "attn.sca.1.",
        "spatial_branch.": "attn.dwconv.",
        "temperature": "attn.temperature",
        "qkv.": "attn.qkv.",
        "qkv_depthwise.": "attn.qkv_dwconv.",
        "projection.": "attn.project_out.",
        "refine_gate.": "attn.refine_att.conv_list.",
    }

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if heads not in REFINE_WINDOWS:
            raise ValueError(f"MUSE's refinement gate is defined for {sorted(REFINE_WINDOWS)} heads, not {heads}")
        if dim % heads != 0:
            raise ValueError(f"dim {dim} does not split into {heads} heads")
        self.heads = heads
        head_dim = dim // heads
        self.channel_attention = nn.Conv2d(dim, dim, 1)
        self.spatial_branch = nn.Sequential(
            nn.Conv2d(dim, 2 * dim, 1, bias=False),
            nn.Conv2d(2 * dim, dim, 3, padding=1, groups=dim, bias=False),
        )
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.qkv_depthwise = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=False)
        self.projection = nn.Conv2d(dim, dim, 1, bias=False)
        windows = REFINE_WINDOWS[heads]
        # Each conv reads the [q; k] channels of its heads and gives one gate map per head.
        self.refine_gate = nn.ModuleList(
            nn.Conv2d(2 * head_dim * count, count, size, padding=size // 2, groups=count)
            for size, count in windows.items()
        )
        self.refine_channels = [2 * head_dim * count for count in windows.values()]

    upstream_order = False
    """Compute in upstream's layout and order of operations (`imse.upstream.use_upstream_order`)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.upstream_order:
            return self._forward_upstream_order(x)
        batch, channels, height, width = x.shape
        positions = height * width
        context = self.channel_attention(x.mean((2, 3), keepdim=True))
        spatial = F.gelu(self.spatial_branch(x))

        qkv = self.qkv_depthwise(self.qkv(x)).view(batch, 3, self.heads, channels // self.heads, positions)
        query, key, value = qkv.unbind(1)  # each [B, heads, head_dim, N]
        query = _normalise_heads(query)
        key = _normalise_heads(key)

        key_value = torch.matmul(value, key.transpose(2, 3))  # [B, heads, head_dim (v), head_dim (k)]
        numerator = torch.matmul(key_value, query).add_(value.sum(3, keepdim=True))
        denominator = torch.matmul(key.sum(3).unsqueeze(2), query) + positions + EPSILON  # [B, heads, 1, N]
        scale = torch.sigmoid(self._refine_logits(query, key, height, width)) * self.temperature / denominator
        attended = (numerator * scale).view(batch, channels, height, width)
        return self.projection(attended * context * spatial)

    def _forward_upstream_order(self, x: Tensor) -> Tensor:
        """The same function in upstream's order: q and v as [B, heads, N, head_dim], norms by torch.norm,
        k @ v first, the denominator as N + q @ (sum of k, repeated per channel) + eps, then the division,
        the temperature and the gate. Ours above rounds otherwise, and AdamW's first steps turn that into
        weights (docs/training-parity.md)."""
        batch, channels, height, width = x.shape
        positions, head_dim = height * width, channels // self.heads
        context = self.channel_attention(F.adaptive_avg_pool2d(x, 1))
        spatial = self.spatial_branch(x)
        query, key, value = self.qkv_depthwise(self.qkv(x)).chunk(3, dim=1)
        query = query.reshape(batch, self.heads, head_dim, positions).transpose(2, 3)
        key = key.reshape(batch, self.heads, head_dim, positions)
        value = value.reshape(batch, self.heads, head_dim, positions).transpose(2, 3)
        query = torch.div(query, torch.norm(query, p=2, dim=-1, keepdim=True) + EPSILON)
        key = torch.div(key, torch.norm(key, p=2, dim=-2, keepdim=True) + EPSILON)
        gate = torch.sigmoid(self._refine_logits(query.transpose(2, 3), key, height, width).transpose(2, 3))
        numerator = torch.sum(value, dim=-2).unsqueeze(2) + query @ (key @ value)
        key_sum = torch.sum(key, dim=-1).unsqueeze(3).repeat(1, 1, 1, head_dim)
        denominator = torch.full((positions, head_dim), positions, device=x.device) + query @ key_sum + EPSILON
        attended = torch.div(numerator, denominator) * self.temperature * gate
        attended = attended.transpose(2, 3).reshape(batch, channels, height, width)
        return self.projection(attended * context * F.gelu(spatial))

    def _refine_logits(self, query: Tensor, key: Tensor, height: int, width: int) -> Tensor:
        """Gate logits [B, heads, 1, N] from grouped convs over each head's [q; k] channels."""
        batch, heads, _, positions = query.shape
        stacked = torch.cat((query, key), dim=2).view(batch, -1, height, width)
        logits = [
            conv(part) for conv, part in zip(self.refine_gate, stacked.split(self.refine_channels, dim=1), strict=True)
        ]
        return torch.cat(logits, dim=1).view(batch, heads, 1, positions)


def _normalise_heads(x: Tensor) -> Tensor:
    """x / (||x|| + 1e-6), the norm taken over each head's channels (dim 2), as upstream.

    sqrt of the summed squares: linalg.vector_norm over a middle axis is some 20 times
    slower on a CPU. A zero vector (silent input) gets norm 0 and, as with torch.norm, a zero
    gradient through it, instead of sqrt's 0 / 0.
    """
    squared = x.square().sum(2, keepdim=True)
    nonzero = squared > 0
    norm = torch.where(nonzero, torch.where(nonzero, squared, 1.0).sqrt(), 0.0)
    return x / (norm + EPSILON)
