"""DeformableEmbedding with the official MUSE weights against a float64 derivation of its formula."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines.muse.embedding import DeformableEmbedding
from tests.dummies.reference_deformable import reference_deform_conv2d

# Upstream stage prefix (one deformable embedding each) and its width.
STAGES = {
    "patch_embed_encoder_level1": 16,
    "patch_embed_encoder_level2": 32,
    "patch_embed_latent": 48,
}


@pytest.fixture(scope="module")
def checkpoint(shared_dir: Path) -> dict[str, torch.Tensor]:
    path = shared_dir / "checkpoints" / "muse" / "g_best"
    return torch.load(path, weights_only=True, map_location="cpu")["generator"]


def upstream_tensors(checkpoint: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
    """The embedding's tensors in the checkpoint, keyed relative to the block."""
    prefix = f"TCFTransformer.{stage}.patch_embeds.0.patch_conv."
    return {key[len(prefix) :]: value for key, value in checkpoint.items() if key.startswith(prefix)}


def to_our_names(upstream: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map upstream-relative keys onto ours through DeformableEmbedding.upstream_names."""
    renamed = {}
    for key, value in upstream.items():
        ours = [mine for mine, theirs in DeformableEmbedding.upstream_names.items() if key.startswith(theirs)]
        assert len(ours) == 1, key
        renamed[ours[0] + key[len(DeformableEmbedding.upstream_names[ours[0]]) :]] = value
    return renamed


def derive(x: torch.Tensor, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """The embedding written out from its description, with upstream's tensor names."""
    channels = x.shape[1]
    hidden = F.conv2d(x, tensors["offset_generator.0.weight"], padding=1, groups=channels)
    offset = F.conv2d(hidden, tensors["offset_generator.1.weight"]).clamp(-1.0, 1.0)
    deformed = reference_deform_conv2d(x, offset, tensors["dcn.weight"], padding=1)
    projected = F.conv2d(deformed, tensors["pwconv.weight"])
    return projected * (projected + 3).clamp(0, 6) / 6


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_matches_derivation_with_official_weights(checkpoint: dict[str, torch.Tensor], stage: str) -> None:
    channels = STAGES[stage]
    upstream = {key: value.double() for key, value in upstream_tensors(checkpoint, stage).items()}
    block = DeformableEmbedding(channels, channels).double()
    block.load_state_dict(to_our_names(upstream))
    x = 2 * torch.randn(1, channels, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = derive(x, upstream)
        torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(block.float()(x.float()).double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_names_and_parameter_count_match_checkpoint(checkpoint: dict[str, torch.Tensor], stage: str) -> None:
    channels = STAGES[stage]
    upstream = upstream_tensors(checkpoint, stage)
    block = DeformableEmbedding(channels, channels)
    ours = to_our_names(upstream)
    assert ours.keys() == block.state_dict().keys()
    assert all(block.state_dict()[key].shape == value.shape for key, value in ours.items())
    assert sum(parameter.numel() for parameter in block.parameters()) == sum(v.numel() for v in upstream.values())


def test_changes_width_and_trains_its_offsets() -> None:
    block = DeformableEmbedding(16, 32)
    x = torch.randn(2, 16, 12, 8)
    output = block(x)
    assert output.shape == (2, 32, 12, 8)
    output.square().sum().backward()
    assert all(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in block.parameters())
