"""MALA and IDConv against float64 derivations of their definitions (tests/dummies/reference_imse_blocks.py).

Needs no ../shared: each module keeps its own random initialisation, runs in float64, and
the reference computes the same block from the module's copied parameters. The shapes are
non-square (T != F) so that a band or a rotation applied along the wrong axis shows.
"""

from __future__ import annotations

import pytest
import torch

from imse.idconv import InceptionDepthwiseEmbedding
from imse.mala import MagnitudeAwareLinearAttention
from tests.dummies import reference_imse_blocks as reference

# IMSE's widths with heads = dim // 8, and the tiny test model's narrowest (head_dim 4).
ATTENTION_SHAPES = [(16, 2), (32, 4), (48, 6), (8, 2)]
TIME, FREQUENCY = 7, 5
# A float64 MALA builds its rotary tables in float64, so it matches the float64 derivation to
# rounding; a missing or misplaced rotation, or z taken after it, moves the output by 1e-2 or more.
ROTARY_TABLE_TOLERANCE = 1e-12


def attention_case(
    dim: int, heads: int, query_key_shift: float = 0.0, seed: int = 0
) -> tuple[MagnitudeAwareLinearAttention, torch.Tensor]:
    """A float64 MALA of random weights and an input; `query_key_shift` lowers the q and k biases."""
    torch.manual_seed(seed)
    module = MagnitudeAwareLinearAttention(dim, heads).double()
    with torch.no_grad():
        module.qkvo.bias[: 2 * dim] -= query_key_shift
    x = torch.randn(2, dim, TIME, FREQUENCY, dtype=torch.float64)
    return module, x


@pytest.mark.parametrize(("dim", "heads"), ATTENTION_SHAPES)
def test_mala_equals_its_quadratic_form_with_the_2d_rotary_embedding(dim, heads):
    module, x = attention_case(dim, heads)
    with torch.no_grad():
        actual = module(x)
    expected = reference.mala(x, reference.float64_parameters(module), heads)
    assert actual.shape == expected.shape == x.shape
    torch.testing.assert_close(actual, expected, rtol=ROTARY_TABLE_TOLERANCE, atol=ROTARY_TABLE_TOLERANCE)


def test_mala_adds_the_epsilon_to_a_small_normaliser():
    """q and k near 0 after elu + 1 (biases lowered by 6) make z about 1e-5, where its + 1e-6 shows."""
    module, x = attention_case(16, 2, query_key_shift=6.0)
    with torch.no_grad():
        actual = module(x)
    expected = reference.mala(x, reference.float64_parameters(module), 2)
    torch.testing.assert_close(actual, expected, rtol=ROTARY_TABLE_TOLERANCE, atol=ROTARY_TABLE_TOLERANCE)


@pytest.mark.parametrize(("dim", "heads"), ATTENTION_SHAPES)
def test_the_rotary_embedding_moves_the_output_far_beyond_the_tolerance(dim, heads):
    """Guards the test above: at these shapes a MALA without its rotation could not pass it."""
    module, x = attention_case(dim, heads)
    with torch.no_grad():
        actual = module(x)
    unrotated = reference.mala(x, reference.float64_parameters(module), heads, rotary=False)
    assert (actual - unrotated).abs().max() > 1e4 * ROTARY_TABLE_TOLERANCE


def test_mala_takes_its_heads_from_consecutive_channel_groups():
    """Two heads of head_dim 8 against one head of 16 on the same weights: the head split matters."""
    module, x = attention_case(16, 2)
    with torch.no_grad():
        actual = module(x)
    one_head = reference.mala(x, reference.float64_parameters(module), heads=1)
    assert (actual - one_head).abs().max() > 1e4 * ROTARY_TABLE_TOLERANCE


@pytest.mark.parametrize("channels", [16, 32, 48, 8])
def test_idconv_equals_its_branches_written_out(channels):
    torch.manual_seed(channels)
    module = InceptionDepthwiseEmbedding(channels, channels).double()
    x = torch.randn(2, channels, 13, 12, dtype=torch.float64)
    with torch.no_grad():
        actual = module(x)
    expected = reference.idconv(x, reference.float64_parameters(module))
    assert actual.shape == expected.shape == x.shape
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
