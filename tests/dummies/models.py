"""Tiny models for fast tests: the real skeleton and blocks at a fraction of the width."""

from __future__ import annotations

import dataclasses

import torch

from imse.unet import ModelConfig, SpeechEnhancementNet

TINY_OVERRIDES = {"dense_channel": 8, "blocks_per_stage": 1}
"""A narrow model (8 channels, one block per stage) of any registered architecture."""

TINY_IMSE = dataclasses.replace(ModelConfig(), heads=(2, 4, 6), **TINY_OVERRIDES)


def tiny_model(config: ModelConfig = TINY_IMSE, seed: int = 0) -> SpeechEnhancementNet:
    """A randomly initialised small model, deterministic from `seed`."""
    torch.manual_seed(seed)
    return SpeechEnhancementNet(config).eval()


class DyingModel(SpeechEnhancementNet):
    """A model whose process dies in its forward pass, as one killed by the OOM killer would."""

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import os

        os._exit(3)
