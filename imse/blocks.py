"""Building blocks shared by every model on the skeleton: norm, feed-forward, transformer
block, resampling between U-Net levels, and the stage that holds an embedding and blocks.

The two pluggable parts (embedding and attention) are passed in as classes with fixed
constructor signatures: `embedding(in_channels, out_channels)` and `attention(dim, heads)`.
Both map [batch, channels, time, frequency] to the same layout.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class ChannelLayerNorm(nn.Module):
    """Bias-free layer norm over channels (Restormer's): x / sqrt(var + 1e-5) * weight.

    The mean is not subtracted. Works on [batch, channels, time, frequency] in place of
    upstream's transpose to channels-last and back.
    """

    upstream_order = False
    """Compute in upstream's order of operations (`imse.upstream.use_upstream_order`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upstream_order:
            return self._upstream_forward(x)
        # Two passes over channels: several times faster than aten::var over a strided axis.
        centred = x - x.mean(dim=1, keepdim=True)
        variance = (centred * centred).mean(dim=1, keepdim=True)
        return x * torch.rsqrt(variance + 1e-5) * self.weight[:, None, None]

    def _upstream_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upstream's: channels last, `var`, a division by the root; the same values, other rounding."""
        batch, channels, time, frequency = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(batch, time * frequency, channels)
        rows = rows / torch.sqrt(rows.var(-1, keepdim=True, unbiased=False) + 1e-5) * self.weight
        return rows.reshape(batch, time, frequency, channels).permute(0, 3, 1, 2)


def trains_fast(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether `module` takes its training path for `x`: the same function as its plain forward,
    computed in a layout whose backward is faster in oneDNN, with other rounding. Only in training
    with gradients and never while traced, so inference, export and MAC counters (fvcore traces)
    see the plain modules, even of a model left in training mode; only on CPU, the kernels the
    layouts were chosen for (results/benchmarks/train_speed.md); never in upstream's order
    (`imse.upstream.use_upstream_order`), which keeps the authors' bits."""
    return (
        module.training
        and torch.is_grad_enabled()
        and not torch.jit.is_tracing()
        and not module.upstream_order
        and x.device.type == "cpu"
    )


def unmodified_convs(*convs: nn.Module) -> bool:
    """Whether each is a plain `nn.Conv2d` with no hooks and no forward of its own, so that a path
    calling `functional.conv2d` on its weight computes what calling it would (a parametrization
    makes another type; old-style weight norm is a pre-hook)."""
    return all(
        type(conv) is nn.Conv2d and not (conv._forward_hooks or conv._forward_pre_hooks or "forward" in vars(conv))
        for conv in convs
    )


class GatedFeedForward(nn.Module):
    """Restormer's gated depthwise feed-forward network (GDFN), without biases."""

    upstream_order = False
    """Train in upstream's layout (`imse.upstream.use_upstream_order`)."""

    def __init__(self, dim: int, expansion: float = 2.66) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=False)
        self.depthwise = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=False)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branched = (self.project_in, self.depthwise)  # called by weight in the branches, without a bias
        if trains_fast(self, x) and unmodified_convs(*branched) and all(conv.bias is None for conv in branched):
            return self._channels_last_forward(x)
        gate, value = self.depthwise(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(functional.gelu(gate) * value)

    def _channels_last_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate and value as two branches in channels-last memory. oneDNN's depthwise conv runs its
        backward about 3x faster there, and each branch is whole in memory for the gelu and the
        product (IMSE's first-level GDFN, forward and backward: 130 -> 55 ms)."""
        x = x.contiguous(memory_format=torch.channels_last)
        hidden = self.project_out.in_channels
        gate, value = (
            functional.conv2d(
                functional.conv2d(x, self.project_in.weight[part]),
                self.depthwise.weight[part],
                padding=self.depthwise.padding,
                groups=hidden,
            )
            for part in (slice(None, hidden), slice(hidden, None))
        )
        return self.project_out(functional.gelu(gate) * value).contiguous()


class TransformerBlock(nn.Module):
    """x + attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, dim: int, attention: nn.Module, expansion: float = 2.66) -> None:
        super().__init__()
        self.attention_norm = ChannelLayerNorm(dim)
        self.attention = attention
        self.feedforward_norm = ChannelLayerNorm(dim)
        self.feedforward = GatedFeedForward(dim, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.feedforward(self.feedforward_norm(x))


class OnePathFusion(nn.Module):
    """Upstream's selective-kernel fusion (SKFF) over a single path.

    With one path its softmax is exactly 1, so the output is the input, bit for bit.
    It is kept for its parameters alone, so that the authors' weights load strictly and
    the parameter count matches theirs; forward skips the arithmetic. Upstream's gradient
    for them is exactly zero; ours is None, so AdamW's weight decay leaves them alone,
    which changes their stored values but never an output.
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        reduced = max(channels // reduction, 4)
        self.squeeze = nn.Conv2d(channels, reduced, 1, bias=False)
        self.squeeze_activation = nn.PReLU()
        self.excite = nn.Conv2d(reduced, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Stage(nn.Module):
    """One U-Net stage: embedding, a stack of transformer blocks, fusion, plus the input."""

    def __init__(
        self,
        dim: int,
        heads: int,
        embedding: type[nn.Module],
        attention: type[nn.Module],
        depth: int = 4,
        expansion: float = 2.66,
    ) -> None:
        super().__init__()
        self.embedding = embedding(dim, dim)
        self.blocks = nn.Sequential(
            *(TransformerBlock(dim, attention(dim, heads), expansion) for _ in range(depth))
        )
        self.fusion = OnePathFusion(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fusion(self.blocks(self.embedding(x))) + x


class Downsample(nn.Module):
    """Depthwise 3x3, 1x1 to out/4 channels, then pixel-unshuffle: halves time and frequency."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels // 4, 1, bias=False)
        self.shuffle = nn.PixelUnshuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.pointwise(self.depthwise(x)))


class Upsample(nn.Module):
    """Depthwise 3x3, 1x1 to 4*out channels, then pixel-shuffle: doubles time and frequency."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels * 4, 1, bias=False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.pointwise(self.depthwise(x)))
