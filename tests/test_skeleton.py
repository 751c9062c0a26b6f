"""The skeleton: parameter counts, the authors' key mapping, and the enhancement plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imse.dense import FrequencyUpsampling
from imse.enhance import _segments, enhance
from imse.idconv import InceptionDepthwiseEmbedding
from imse.mala import MagnitudeAwareLinearAttention, rotate_pairs
from imse.registry import registry
from imse.upstream import UpstreamMismatch, load_upstream_state_dict, upstream_key_map
from tests.dummies.audio import speech_like
from tests.dummies.models import tiny_model


def parameter_count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_imse_has_432995_parameters():
    assert parameter_count(registry.build("imse")) == 432_995


def test_paper_count_leaves_out_the_idconv_pointwise_projections():
    """The paper prints 0.427M: the total less the seven IDConv 1x1 projections (inferred)."""
    model = registry.build("imse")
    pointwise = [
        module.pointwise.weight.numel()
        for module in model.modules()
        if isinstance(module, InceptionDepthwiseEmbedding)
    ]
    assert len(pointwise) == 7
    assert sum(pointwise) == 5_376
    paper_convention = parameter_count(model) - sum(pointwise)
    assert paper_convention == 427_619
    assert f"{paper_convention // 1000 / 1000:.3f}M" == "0.427M"  # the paper truncates


def test_every_upstream_key_is_distinct():
    mapping = upstream_key_map(registry.build("imse"))
    assert len(set(mapping.values())) == len(mapping)


def test_strict_loading_refuses_missing_extra_and_wrong_constants(checkpoint_dir):
    state = torch.load(checkpoint_dir / "imse" / "g_best_pesq_3.399", map_location="cpu", weights_only=True)
    state = state["generator"]
    model = registry.build("imse")
    missing = dict(state)
    missing.pop("TCFTransformer.latent.mhca_blks.0.transformer_layers.2.mala.lepe.bias")
    with pytest.raises(UpstreamMismatch, match="1 tensors missing"):
        load_upstream_state_dict(model, missing)
    extra = dict(state, **{"TCFTransformer.extra.weight": torch.zeros(1)})
    with pytest.raises(UpstreamMismatch, match="1 unused"):
        load_upstream_state_dict(model, extra)
    angle_key = "TCFTransformer.encoder_level1.mhca_blks.0.transformer_layers.0.rope.angle"
    wrong = dict(state, **{angle_key: state[angle_key] * 2})
    with pytest.raises(UpstreamMismatch, match="rope.angle differs"):
        load_upstream_state_dict(model, wrong)


def test_rotate_pairs_matches_definition():
    x = torch.arange(8.0).reshape(1, 1, 8, 1)
    assert rotate_pairs(x).flatten().tolist() == [-1, 0, -3, 2, -5, 4, -7, 6]


def test_mala_is_linear_in_length():
    """Doubling the time axis doubles the attention's matmul work, not quadruples it."""
    attention = MagnitudeAwareLinearAttention(16, 2)
    from torch.utils.flop_counter import FlopCounterMode

    def flops(frames: int) -> int:
        with FlopCounterMode(display=False) as counter:
            attention(torch.randn(1, 16, frames, 32))
        return counter.get_total_flops()

    assert flops(64) == 2 * flops(32)


@pytest.mark.parametrize("length", [1_000, 30_700, 30_701, 61_400, 75_085, 99_946])
def test_segment_plan_covers_the_utterance_once(length):
    size = 30_700
    plan = _segments(length, size)
    covered = []
    for index, (start, kept) in enumerate(plan):
        covered.extend(range(start, start + kept))
        if index < len(plan) - 1 or length >= size:
            assert start + size <= max(length, size)
    assert covered == list(range(length))


@pytest.mark.parametrize("length", [510, 16_000, 16_300, 30_700, 33_333, 35_569, 99_946])
def test_full_mode_pads_to_a_multiple_of_four_frames(length):
    padded = registry.build("imse").config.front_end.valid_length(length)
    frames = padded // 100 + 1
    assert padded >= length and frames % 4 == 0 and padded - length < 500
    assert (frames - 1) * 100 >= length  # the inverse STFT gives back every input sample


def test_full_mode_keeps_every_length():
    """Over a range of lengths, including those whose frame count is already a multiple of 4
    but not of the hop (p232_005, 99,946 samples, came back 46 samples short)."""
    model = tiny_model()
    for length in [*range(510, 1_400, 29), 1_101, 1_150, 1_199, 1_200, 1_201, 35_569]:
        noisy = speech_like(seconds=length / 16_000 + 0.01)[:length]
        assert enhance(noisy, model, "full").shape == (length,), length


@pytest.mark.parametrize("mode", ["segmented", "full"])
def test_enhancement_keeps_length_and_is_finite(mode):
    model = tiny_model()
    noisy = speech_like(2.3).astype(np.float32)
    output = enhance(noisy, model, mode)
    assert output.shape == noisy.shape and output.dtype == noisy.dtype
    assert torch.isfinite(torch.from_numpy(output)).all()
    assert output.std() > 0


def test_enhancement_is_scale_invariant():
    """RMS normalisation in front: a louder input gives a proportionally louder output."""
    model = tiny_model()
    noisy = speech_like(1.5).astype(np.float32)
    quiet, loud = enhance(noisy, model), enhance(noisy * 8, model)
    assert abs(loud / 8 - quiet).max() < 1e-5 * abs(quiet).max() + 1e-7


def test_unet_rejects_frame_counts_not_divisible_by_four():
    model = tiny_model()
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(1, 256, 161), torch.rand(1, 256, 161))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 2])
def test_frequency_upsampling_is_the_full_computation_bit_for_bit(threads, batch):
    """The decoders' head computes only the rows its time stride keeps; output and every gradient must
    equal upstream's full 1x1 conv, pixel shuffle and strided depthwise conv exactly (not to a tolerance:
    trained weights must not move)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        head = FrequencyUpsampling(16, lambda: (torch.nn.PReLU(16),))
        features = torch.randn(batch, 16, 36, 128)
        upstream_output = torch.randn(batch, 16, 36, 256)
        results = []
        upstream = torch.nn.Sequential(*head.children())  # the same layers, run as upstream runs them
        for forward in (head, upstream):
            head.zero_grad()
            x = features.clone().requires_grad_()
            output = forward(x)
            output.backward(upstream_output)
            results.append([output.detach(), x.grad, *(parameter.grad.clone() for parameter in head.parameters())])
    finally:
        torch.set_num_threads(previous)
    assert results[0][0].shape == (batch, 16, 36, 256)
    for ours, full in zip(*results, strict=True):
        assert torch.equal(ours, full)


FLOAT32_GRADIENT_ERROR = 1e-5
"""Relative L2 error of float32 weight gradients against float64 that a training path must stay within: about
100 float32 epsilons; the plain modules here reach 2e-7 to 5e-6, a wrong gradient (even 1% off) is far outside."""


def _errors_against_float64(module: torch.nn.Module, x: torch.Tensor, train: bool) -> tuple[float, float]:
    """(largest output error, relative L2 error of all weight gradients together) of `module` in float32 in train
    or eval mode, against its float64 plain forward: the independent reference both paths must meet. All
    gradients together, as the parity check counts them: biases in front of an InstanceNorm have a true
    gradient of 0, and alone they would be all rounding."""
    module.double().eval().zero_grad()
    exact_output = module(x.double())
    exact_output.square().mean().backward()
    exact = [parameter.grad.clone() for parameter in module.parameters()]
    module.float().train(train).zero_grad()
    output = module(x)
    output.square().mean().backward()
    pairs = list(zip((parameter.grad.double() for parameter in module.parameters()), exact, strict=True))
    difference = sum((gradient - reference).square().sum() for gradient, reference in pairs)
    gradient_error = (difference / sum(reference.square().sum() for _, reference in pairs)).sqrt().item()
    return (output.detach().double() - exact_output).abs().max().item(), gradient_error


@pytest.mark.parametrize("dilation", [2, 4, 8])
def test_a_dilated_conv_by_phases_is_the_dilated_conv(dilation):
    """Time 13 is not a whole number of phases; on a contiguous float32 batch the forward must be the plain conv's
    bits (inference and trained outputs do not move), in float64 the same function, and the weight gradient
    within FLOAT32_GRADIENT_ERROR of float64. A conv it does not fit is refused."""
    from imse.dense import time_dilated_conv_by_phases

    torch.manual_seed(dilation)
    conv = torch.nn.Conv2d(24, 8, 3, dilation=(dilation, 1), padding=(dilation, 1))
    x = torch.randn(2, 24, 13, 20)
    assert torch.equal(time_dilated_conv_by_phases(conv, x), conv(x))
    exact = time_dilated_conv_by_phases(conv.double(), x.double())
    assert torch.allclose(exact, conv(x.double()), rtol=0, atol=1e-12)
    conv.zero_grad()
    conv(x.double()).square().mean().backward()
    reference = conv.weight.grad.clone()
    conv.float().zero_grad()
    time_dilated_conv_by_phases(conv, x).square().mean().backward()
    assert ((conv.weight.grad.double() - reference).norm() / reference.norm()).item() <= FLOAT32_GRADIENT_ERROR
    fitting = {"dilation": (dilation, 1), "padding": (dilation, 1)}
    for unfit in ({"stride": (2, 1)}, {"padding_mode": "reflect"}, {"dilation": (dilation, 2), "padding": 2}):
        arguments = fitting | unfit
        with pytest.raises(ValueError, match="dilated in time alone"):
            time_dilated_conv_by_phases(torch.nn.Conv2d(24, 8, 3, **arguments), x)


def test_training_takes_the_fast_paths_and_upstream_order_the_plain_ones(monkeypatch):
    """In training with gradients on the CPU, the GDFN runs in channels-last branches, MALA's lepe in channels-last
    memory and the dense block's dilated convs by phases: the same functions (float64, 1e-12), in float32 as close
    to float64 in output as the plain forward and within FLOAT32_GRADIENT_ERROR in gradients. Inference, tracing
    (fvcore's MAC count, export), upstream's order, other devices than the CPU and a hooked conv take the plain
    path."""
    import imse.dense
    from imse.blocks import GatedFeedForward
    from imse.dense import DenseBlock
    from imse.upstream import use_upstream_order

    fast_calls = []

    def counted(function):
        return lambda *arguments: fast_calls.append(1) or function(*arguments)

    monkeypatch.setattr(imse.dense, "time_dilated_conv_by_phases", counted(imse.dense.time_dilated_conv_by_phases))
    monkeypatch.setattr(GatedFeedForward, "_channels_last_forward", counted(GatedFeedForward._channels_last_forward))
    torch.manual_seed(0)
    attention = MagnitudeAwareLinearAttention(16, 2)
    lepe_layouts = []
    attention.lepe.register_forward_hook(
        lambda _, inputs, __: lepe_layouts.append(inputs[0].is_contiguous(memory_format=torch.channels_last)))
    cases = ((GatedFeedForward(16), 1, 16), (DenseBlock(8), 3, 8), (attention, 0, 16))
    for module, fast_per_call, channels in cases:
        x = torch.randn(2, channels, 12, 20)
        plain, fast = (_errors_against_float64(module, x, train) for train in (False, True))
        assert fast[0] <= 4 * plain[0] + 1e-7 and fast[1] <= FLOAT32_GRADIENT_ERROR
        fast_exact = module.double().train()(x.double()).detach()
        assert torch.allclose(module.eval()(x.double()), fast_exact, rtol=0, atol=1e-12)
        module.float()
        for train, upstream, gradients, fast_path in ((True, False, True, True), (True, False, False, False),
                                                      (False, False, True, False), (True, True, True, False)):
            fast_calls.clear()
            lepe_layouts.clear()
            use_upstream_order(module, upstream)
            with torch.set_grad_enabled(gradients):
                module.train(train)(x)
            assert len(fast_calls) == fast_per_call * fast_path, (type(module).__name__, train, upstream, gradients)
            assert module is not attention or lepe_layouts == [fast_path]
        use_upstream_order(module, False)
        fast_calls.clear()
        lepe_layouts.clear()
        torch.jit.trace(module.train(), x, check_trace=False)  # fvcore counts MACs so, also in training mode
        module.to("meta")(x.to("meta"))  # off the CPU (CUDA too)
        assert not fast_calls and not any(lepe_layouts)
    feedforward, dense = GatedFeedForward(16), DenseBlock(8)
    hooked = []
    for conv in (feedforward.depthwise, dense.layers[1][0]):
        conv.register_forward_hook(lambda *_: hooked.append(1))
    fast_calls.clear()
    feedforward(torch.randn(2, 16, 12, 20))
    dense(torch.randn(2, 8, 12, 20))
    assert len(hooked) == 2 and len(fast_calls) == 2  # the dense block's two other dilated convs by phases


def test_a_seeded_decoder_head_draws_upstreams_initial_weights():
    """The same seed must give the weights of upstream's nn.Sequential, layer for layer, or a seeded
    training run starts elsewhere (the layers after the head must be made after it)."""
    nn = torch.nn
    torch.manual_seed(3)
    ours = FrequencyUpsampling(16, lambda: (nn.Conv2d(16, 1, 1), nn.InstanceNorm2d(1, affine=True), nn.PReLU(1),
                                            nn.Conv2d(1, 1, 1)))
    torch.manual_seed(3)
    upstream = nn.Sequential(
        nn.Conv2d(16, 64, 1, bias=False), nn.PixelShuffle(2),
        nn.Conv2d(16, 16, (1, 3), stride=(2, 1), padding=(0, 1), groups=16, bias=False),
        nn.Conv2d(16, 1, 1), nn.InstanceNorm2d(1, affine=True), nn.PReLU(1), nn.Conv2d(1, 1, 1),
    )
    ours_state, upstream_state = ours.state_dict(), upstream.state_dict()
    assert ours_state.keys() == upstream_state.keys()
    assert all(torch.equal(ours_state[key], upstream_state[key]) for key in ours_state)


def test_upstream_order_computes_the_same_function_in_other_rounding():
    """`use_upstream_order` switches a block's ChannelLayerNorms and MALA to upstream's order of operations:
    in float64 the two orders agree to 1e-12 (the same function); in float32 upstream's order is as close to
    float64 as ours (within 4x its error), with gradients to rounding, and not the same bits (else the switch
    would do nothing). Bit-identity with the authors' model itself is shown against their code by
    scripts/official_train_step.py and bench.train.parity (docs/training-parity.md)."""
    from imse.blocks import TransformerBlock
    from imse.upstream import use_upstream_order

    torch.manual_seed(0)
    block = TransformerBlock(32, MagnitudeAwareLinearAttention(32, 4)).double()
    x = torch.randn(2, 32, 12, 20, dtype=torch.float64)  # batch 2, time x frequency not square
    exact = {}
    for order in (False, True):
        assert use_upstream_order(block, order) == 4  # two norms, the attention and the feed-forward
        exact[order] = block(x).detach()
    assert torch.allclose(exact[False], exact[True], rtol=0, atol=1e-12)
    block.float()
    results = {}
    for order in (False, True):
        use_upstream_order(block, order)
        block.zero_grad()
        output = block(x.float())
        output.square().mean().backward()
        results[order] = (output.detach(), (output.detach().double() - exact[False]).abs().max().item(),
                          torch.cat([p.grad.flatten() for p in block.parameters()]))
    assert results[True][1] <= 4 * results[False][1]
    assert not torch.equal(results[False][0], results[True][0])
    assert torch.allclose(results[False][2], results[True][2], rtol=1e-4, atol=1e-7)
