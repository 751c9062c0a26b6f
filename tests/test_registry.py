"""One registry: names map to architectures; the ablations are other pairs of the same blocks."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from imse.registry import registry

EXPECTED_PARAMETERS = {
    "imse": 432_995, "muse": 513_015, "imse-de": 438_583, "imse-taylor": 507_427,
    "gtcrn": 23_669,  # learnable only; its fixed ERB matrices (24,576) are buffers
}


def parameters(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_registered_models_and_bundles():
    assert {"imse", "muse", "imse-de", "imse-taylor"} <= set(registry.model_names())
    assert {"imse-vb-3.399", "imse-vb-3.373", "muse-vb"} <= set(registry.bundle_names())
    assert registry.bundle("muse-vb").model == "muse"


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(KeyError, match="imse-taylor.*muse"):
        registry.model("mse")


def test_muse_has_513015_parameters():
    assert parameters(registry.build("muse")) == 513_015


def test_every_swapped_block_accounts_for_the_count_difference():
    """A hybrid's count is IMSE's plus what its swapped blocks add; the swaps add up to MUSE."""
    models = {name: registry.build(name) for name in ("imse", "muse", "imse-de", "imse-taylor")}

    def block_parameters(model, kind: str) -> int:
        stages = [module for name, module in model.unet.named_children() if hasattr(module, "blocks")]
        if kind == "embedding":
            return sum(parameters(stage.embedding) for stage in stages)
        return sum(parameters(block.attention) for stage in stages for block in stage.blocks)

    counts = {name: parameters(model) for name, model in models.items()}
    embedding_swap = block_parameters(models["muse"], "embedding") - block_parameters(models["imse"], "embedding")
    attention_swap = block_parameters(models["muse"], "attention") - block_parameters(models["imse"], "attention")
    assert counts["imse-de"] == counts["imse"] + embedding_swap
    assert counts["imse-taylor"] == counts["imse"] + attention_swap
    assert counts["muse"] == counts["imse"] + embedding_swap + attention_swap
    assert (counts["imse-de"], counts["imse-taylor"]) == (438_583, 507_427)


@pytest.mark.parametrize("name", ["muse", "imse-de", "imse-taylor"])
def test_each_model_trains_a_step(name):
    model = registry.build(name, dense_channel=8, blocks_per_stage=1)
    magnitude, phase = torch.rand(1, 256, 16), torch.rand(1, 256, 16)
    enhanced_magnitude, enhanced_phase, _ = model(magnitude, phase)
    (enhanced_magnitude.mean() + enhanced_phase.mean()).backward()
    without_gradient = [name for name, parameter in model.named_parameters() if parameter.grad is None]
    # only the one-path fusion's parameters, which cannot affect the output (its softmax is exactly 1)
    assert without_gradient and all(".fusion." in name for name in without_gradient)


def test_a_fresh_process_builds_every_model_from_its_config_alone():
    """No hidden order: a config names its blocks, and the first look-up loads the plug-ins."""
    script = (
        "from imse import ModelConfig, SpeechEnhancementNet\n"
        "model = SpeechEnhancementNet(ModelConfig(embedding='deformable', attention='taylor', heads=(1, 2, 8)))\n"
        "print(sum(p.numel() for p in model.parameters()))\n"
        "from imse import registry\n"
        "for name in registry.model_names():\n"
        "    config = registry.model(name).config\n"
        "    print(name, sum(p.numel() for p in type(config).from_dict(config.to_dict()).build().parameters()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "513015"
    counts = dict(line.split() for line in lines[1:] if line)
    assert {name: int(count) for name, count in counts.items() if name in EXPECTED_PARAMETERS} == EXPECTED_PARAMETERS


def test_unknown_block_lists_the_known_ones():
    with pytest.raises(KeyError, match="deformable.*idconv"):
        registry.build("imse", embedding="convolution")


@pytest.mark.parametrize("overrides", [{"heads": (0, -1, 2)}, {"heads": "abc"}, {"segment_size": 0},
                                       {"segment_size": 1_000}, {"dense_channel": -8}])
def test_a_config_that_would_fail_in_a_forward_pass_is_refused_when_built(overrides):
    field = next(iter(overrides))
    with pytest.raises(ValueError, match=field):
        registry.build("imse", **overrides)
