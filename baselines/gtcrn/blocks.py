"""GTCRN's convolutional blocks: subband feature extraction, temporal recurrent attention,
the grouped temporal convolution (GTConv) and the plain convolution block.

All are causal along time: a convolution over time is padded on the past side only, and the
recurrences run forwards, so frame t of the output depends on frames <= t of the input.
Tensors are [batch, channels, frames, frequency].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def subband_features(features: torch.Tensor, neighbours: int = 3) -> torch.Tensor:
    """Subband feature extraction (SFE): each bin gains its `neighbours` nearest bins as channels.

    Channel c * neighbours + k of the result is channel c at bin f + k - neighbours // 2 (zero
    beyond the edges), so 3 channels become 9; a context along frequency at no parameter cost.
    """
    half = neighbours // 2
    padded = functional.pad(features, (half, half))
    bins = features.shape[-1]
    shifted = torch.stack([padded[..., offset : offset + bins] for offset in range(neighbours)], dim=2)
    batch, channels, _, frames, _ = shifted.shape
    return shifted.reshape(batch, channels * neighbours, frames, bins)


class TemporalRecurrentAttention(nn.Module):
    """Temporal recurrent attention (TRA): a GRU over each channel's per-frame energy gives a
    sigmoid gate per channel and frame, which scales the input; causal, since the GRU is."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gru = nn.GRU(channels, channels * 2, batch_first=True)
        self.gate = nn.Linear(channels * 2, channels)

    def forward(self, features: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, C, T, F] -> (gated [B, C, T, F], the GRU's last state [1, B, 2C])."""
        energy = features.pow(2).mean(dim=-1).transpose(1, 2)
        hidden, state = self.gru(energy, state)
        gate = torch.sigmoid(self.gate(hidden)).transpose(1, 2)
        return features * gate[..., None], state


def channel_shuffle(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Interleave two [B, C, T, F] halves channel by channel (ShuffleNetV2): [B, 2C, T, F]."""
    batch, channels, frames, bins = first.shape
    return torch.stack([first, second], dim=2).reshape(batch, channels * 2, frames, bins)


class GroupedTemporalConv(nn.Module):
    """GTConv: half the channels pass through; the other half goes SFE -> point-wise expansion ->
    dilated depth-wise 3x3 conv along time (causal) -> point-wise projection -> TRA, and the two
    halves are shuffled together. The decoder's mirror uses transposed convolutions."""

    def __init__(self, channels: int, hidden: int, dilation: int, transposed: bool = False) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        half = channels // 2
        self.past = 2 * dilation
        """Frames of the past the depth-wise conv sees: (kernel 3 - 1) x dilation."""
        time_padding = self.past if transposed else 0
        self.expand = conv(half * 3, hidden, 1)
        self.expand_norm = nn.BatchNorm2d(hidden)
        self.expand_activation = nn.PReLU()
        self.depthwise = conv(hidden, hidden, (3, 3), padding=(time_padding, 1), dilation=(dilation, 1), groups=hidden)
        self.depthwise_norm = nn.BatchNorm2d(hidden)
        self.depthwise_activation = nn.PReLU()
        self.project = conv(hidden, half, 1)
        self.project_norm = nn.BatchNorm2d(half)
        self.attention = TemporalRecurrentAttention(half)

    def forward(self, features: torch.Tensor, past: torch.Tensor | None = None,
                state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[B, C, T, F] -> (output [B, C, T, F], the depth-wise conv's last `past` input frames,
        the attention's GRU state). `past` and `state` carry a stream across calls; None means
        silence before the first frame (zeros), as in a whole-utterance pass."""
        processed, kept = features.chunk(2, dim=1)
        hidden = self.expand_activation(self.expand_norm(self.expand(subband_features(processed))))
        if past is None:
            past = hidden.new_zeros(*hidden.shape[:2], self.past, hidden.shape[-1])
        context = torch.cat([past, hidden], dim=2)
        hidden = self.depthwise_activation(self.depthwise_norm(self.depthwise(context)))
        hidden, state = self.attention(self.project_norm(self.project(hidden)), state)
        return channel_shuffle(hidden, kept), context[:, :, context.shape[2] - self.past :], state


class ConvBlock(nn.Module):
    """Convolution (or transposed convolution) along frequency, batch norm and PReLU (tanh last)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, transposed: bool = False,
                 last: bool = False) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(in_channels, out_channels, (1, 5), stride=(1, 2), padding=(0, 2), groups=groups)
        self.norm = nn.BatchNorm2d(out_channels)
        self.activation = nn.Tanh() if last else nn.PReLU()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(features)))
