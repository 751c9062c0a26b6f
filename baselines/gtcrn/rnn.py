"""GTCRN's dual-path grouped RNN (DPGRNN): a bidirectional GRU across the bands of each frame
(intra-frame) and a forward GRU across frames for each band (inter-frame), each split into
two groups of channels with a GRU of their own, which halves the recurrent weights.
"""

from __future__ import annotations

import torch
from torch import nn


class GroupedGRU(nn.Module):
    """Two GRUs, one per half of the features; their outputs and states are concatenated."""

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool = False) -> None:
        super().__init__()
        self.groups = nn.ModuleList(
            nn.GRU(input_size // 2, hidden_size // 2, batch_first=True, bidirectional=bidirectional) for _ in range(2)
        )

    def forward(self, sequence: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[N, L, input] -> ([N, L, hidden x directions], state [directions, N, hidden])."""
        states = (None, None) if state is None else tuple(part.contiguous() for part in state.chunk(2, dim=-1))
        outputs, finals = zip(*(gru(part, part_state) for gru, part, part_state in
                                zip(self.groups, sequence.chunk(2, dim=-1), states, strict=True)), strict=True)
        return torch.cat(outputs, dim=-1), torch.cat(finals, dim=-1)


class DualPathGroupedRNN(nn.Module):
    """Intra-frame then inter-frame grouped GRU, each followed by a linear map, layer norm over
    (bands, channels) and a residual. [B, C, T, bands] in and out; causal along time."""

    def __init__(self, channels: int, bands: int) -> None:
        super().__init__()
        self.intra_rnn = GroupedGRU(channels, channels // 2, bidirectional=True)
        self.intra_fc = nn.Linear(channels, channels)
        self.intra_norm = nn.LayerNorm((bands, channels), eps=1e-8)
        self.inter_rnn = GroupedGRU(channels, channels)
        self.inter_fc = nn.Linear(channels, channels)
        self.inter_norm = nn.LayerNorm((bands, channels), eps=1e-8)

    def forward(self, features: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, C, T, bands] -> (same shape, the inter-frame GRUs' state [1, B x bands, C]); `state`
        carries a stream across calls (None: the start of the utterance)."""
        batch, channels, frames, bands = features.shape
        by_frame = features.permute(0, 2, 3, 1)
        intra = self.intra_rnn(by_frame.reshape(batch * frames, bands, channels))[0]
        intra = self.intra_norm(self.intra_fc(intra).reshape(batch, frames, bands, channels))
        by_frame = by_frame + intra
        by_band = by_frame.transpose(1, 2).reshape(batch * bands, frames, channels)
        inter, state = self.inter_rnn(by_band, state)
        inter = self.inter_fc(inter).reshape(batch, bands, frames, channels).transpose(1, 2)
        by_frame = by_frame + self.inter_norm(inter)
        return by_frame.permute(0, 3, 1, 2), state
