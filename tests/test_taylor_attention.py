"""TaylorAttention with the official MUSE weights against a float64 derivation of its formula.

The derivation takes the attention in its quadratic form, sum_m (1 + q_n . k_m) v_m over
sum_m (1 + q_n . k_m), head by head, so it shares no algebra with the block's linear form.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines.muse.attention import TaylorAttention

# Upstream stage prefix (its first transformer block), width and heads.
STAGES = {
    "encoder_level1": (16, 1),
    "encoder_level2": (32, 2),
    "latent": (48, 8),
}
# Per number of heads: (kernel size, heads gated) of each refinement conv, in upstream order.
WINDOWS = {1: [(3, 1)], 2: [(3, 2)], 4: [(3, 2), (5, 2)], 8: [(3, 2), (5, 3), (7, 3)]}


@pytest.fixture(scope="module")
def checkpoint(shared_dir: Path) -> dict[str, torch.Tensor]:
    path = shared_dir / "checkpoints" / "muse" / "g_best"
    return torch.load(path, weights_only=True, map_location="cpu")["generator"]


def upstream_tensors(checkpoint: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
    """The attention's tensors in the checkpoint, keyed relative to the transformer layer."""
    prefix = f"TCFTransformer.{stage}.mhca_blks.0.transformer_layers.0."
    return {key[len(prefix) :]: value for key, value in checkpoint.items() if key.startswith(prefix + "attn.")}


def to_our_names(upstream: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map layer-relative upstream keys onto ours through TaylorAttention.upstream_names."""
    renamed = {}
    for key, value in upstream.items():
        ours = [mine for mine, theirs in TaylorAttention.upstream_names.items() if key.startswith(theirs)]
        assert len(ours) == 1, key
        renamed[ours[0] + key[len(TaylorAttention.upstream_names[ours[0]]) :]] = value
    return renamed


def derive(x: torch.Tensor, upstream: dict[str, torch.Tensor], heads: int) -> torch.Tensor:
    """The attention written out from its description, with upstream's tensor names."""
    tensors = {key.removeprefix("attn."): value for key, value in upstream.items()}
    batch, channels, height, width = x.shape
    head_dim = channels // heads
    weight_sca = tensors["sca.1.weight"].view(channels, channels)
    context = (x.mean((2, 3)) @ weight_sca.T + tensors["sca.1.bias"]).view(batch, channels, 1, 1)
    expanded = F.conv2d(x, tensors["dwconv.0.weight"])
    spatial = F.conv2d(expanded, tensors["dwconv.1.weight"], padding=1, groups=channels)
    spatial = 0.5 * spatial * (1 + torch.erf(spatial / math.sqrt(2)))
    qkv = F.conv2d(F.conv2d(x, tensors["qkv.weight"]), tensors["qkv_dwconv.weight"], padding=1, groups=3 * channels)

    # Which refinement conv, and which of its output maps, gates each head.
    gates = [(conv, row, size) for conv, (size, count) in enumerate(WINDOWS[heads]) for row in range(count)]
    outputs = []
    for head in range(heads):
        q, k, v = (qkv[:, part * channels + head * head_dim :][:, :head_dim] for part in range(3))
        q = q / (q.norm(dim=1, keepdim=True) + 1e-6)
        k = k / (k.norm(dim=1, keepdim=True) + 1e-6)
        similarity = 1 + torch.einsum("bcn,bcm->bnm", q.flatten(2), k.flatten(2))
        attended = torch.einsum("bnm,bcm->bcn", similarity, v.flatten(2)) / (similarity.sum(2) + 1e-6).unsqueeze(1)
        conv, row, size = gates[head]
        gate_weight = tensors[f"refine_att.conv_list.{conv}.weight"][row : row + 1]
        gate_bias = tensors[f"refine_att.conv_list.{conv}.bias"][row : row + 1]
        gate = F.conv2d(torch.cat((q, k), dim=1), gate_weight, gate_bias, padding=size // 2)
        outputs.append(
            attended.view(batch, head_dim, height, width) * tensors["temperature"][head] * torch.sigmoid(gate)
        )
    return F.conv2d(torch.cat(outputs, dim=1) * context * spatial, tensors["project_out.weight"])


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_matches_derivation_with_official_weights(checkpoint: dict[str, torch.Tensor], stage: str) -> None:
    dim, heads = STAGES[stage]
    upstream = {key: value.double() for key, value in upstream_tensors(checkpoint, stage).items()}
    block = TaylorAttention(dim, heads).double()
    block.load_state_dict(to_our_names(upstream))
    x = 3 * torch.randn(2, dim, 9, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = derive(x, upstream, heads)
        assert expected.abs().max() > 1e-3
        torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(block.float()(x.float()).double(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_names_and_parameter_count_match_checkpoint(checkpoint: dict[str, torch.Tensor], stage: str) -> None:
    dim, heads = STAGES[stage]
    upstream = upstream_tensors(checkpoint, stage)
    block = TaylorAttention(dim, heads)
    ours = to_our_names(upstream)
    assert ours.keys() == block.state_dict().keys()
    assert all(block.state_dict()[key].shape == value.shape for key, value in ours.items())
    assert sum(parameter.numel() for parameter in block.parameters()) == sum(v.numel() for v in upstream.values())


@pytest.mark.parametrize("upstream_order", [False, True])
def test_four_heads_match_derivation(upstream_order: bool) -> None:
    """Four heads (two refinement convs) has no official weights; random ones stand in. Upstream's order of
    operations (`--numerics upstream`) computes the same function."""
    block = TaylorAttention(32, 4).double()
    block.upstream_order = upstream_order
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.normal_(generator=torch.Generator().manual_seed(parameter.numel()))
    upstream = {
        theirs + key[len(mine) :]: value
        for key, value in block.state_dict().items()
        for mine, theirs in block.upstream_names.items()
        if key.startswith(mine)
    }
    x = torch.randn(1, 32, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(block(x), derive(x, upstream, 4), rtol=0, atol=1e-10)


@pytest.mark.parametrize(("dim", "heads"), [(24, 3), (16, 16), (18, 4)])
def test_rejects_unsupported_heads(dim: int, heads: int) -> None:
    with pytest.raises(ValueError, match="heads"):
        TaylorAttention(dim, heads)


def test_backward_reaches_every_parameter() -> None:
    block = TaylorAttention(16, 2)
    block(torch.randn(2, 16, 8, 6)).square().sum().backward()
    assert all(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in block.parameters())


def test_silent_input_keeps_gradients_finite() -> None:
    """An all-zero region gives all-zero q and k vectors; their norm must not turn into 0 / 0."""
    block = TaylorAttention(16, 1)
    x = torch.randn(1, 16, 8, 6)
    x[:, :, :4] = 0
    x.requires_grad_()
    block(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(parameter.grad).all() for parameter in block.parameters())


def test_upstream_order_has_the_same_gradients() -> None:
    """In float64 the two orders give one function, so their gradients agree to rounding; in float32 they
    differ in the last bits, which is the point of the upstream order (docs/training-parity.md)."""
    block = TaylorAttention(16, 2).double()
    x = torch.randn(2, 16, 8, 6, dtype=torch.float64, requires_grad=True)
    gradients = []
    for upstream_order in (False, True):
        block.upstream_order = upstream_order
        gradients.append(torch.autograd.grad(block(x).square().sum(), [x, *block.parameters()]))
    for fast, upstream in zip(*gradients, strict=True):
        torch.testing.assert_close(upstream, fast, rtol=1e-10, atol=1e-12)
