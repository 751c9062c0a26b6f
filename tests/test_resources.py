"""Memory that a long job must not pile up: MALA's rotary tables are shared and bounded."""

from __future__ import annotations

import torch

from imse.mala import ROTARY_CACHE_SIZE, rotary_tables
from imse.registry import registry


def test_rotary_tables_are_shared_across_blocks_and_bounded():
    model = registry.build("imse", blocks_per_stage=1).eval()
    rotary_tables.cache_clear()
    with torch.inference_mode():
        model(torch.rand(1, 256, 8), torch.rand(1, 256, 8))
    # 7 stages of one block each, at three U-Net levels: one table set per level, not per block
    assert rotary_tables.cache_info().currsize == 3
    with torch.inference_mode():
        for frames in range(12, 12 + 4 * 12, 4):
            model(torch.rand(1, 256, frames), torch.rand(1, 256, frames))
    assert rotary_tables.cache_info().currsize == ROTARY_CACHE_SIZE


def test_a_table_made_while_enhancing_serves_training_later():
    """Tables are made outside inference mode, so a later backward pass can save them."""
    model = registry.build("imse", blocks_per_stage=1)
    rotary_tables.cache_clear()
    with torch.inference_mode():
        model(torch.rand(1, 256, 8), torch.rand(1, 256, 8))
    magnitude, _, _ = model(torch.rand(1, 256, 8), torch.rand(1, 256, 8))
    magnitude.mean().backward()
    assert model.unet.encoder1.blocks[0].attention.qkvo.weight.grad is not None
