"""The authors' state-dict names, mapped onto ours in one place.

Our module names say what things are; the authors' checkpoints use theirs
(`TCFTransformer.encoder_level1.mhca_blks.0.transformer_layers.0.mala.qkvo.weight`).
The skeleton's part of the mapping is the table below; each embedding and attention
class maps its own parameters through its `upstream_names` class attribute, and may name
`upstream_constants`: tensors the authors stored that we compute (MALA's RoPE angles),
which are checked against ours instead of being loaded.

A network that is not this skeleton declares its own mapping: methods `upstream_key_map()`
(our key -> theirs) and `upstream_constants()` (their key -> the value we compute; a key
that is also mapped is checked and then loaded, e.g. GTCRN's ERB matrices). The same strict
loader below then serves it.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from imse.blocks import Stage

_STAGES = {
    "encoder1": ("patch_embed_encoder_level1", "encoder_level1"),
    "encoder2": ("patch_embed_encoder_level2", "encoder_level2"),
    "bottleneck": ("patch_embed_latent", "latent"),
    "decoder2": ("patch_embed_decoder_level2", "decoder_level2"),
    "decoder1": ("patch_embed_decoder_level1", "decoder_level1"),
    "magnitude_refinement": ("mag_patch_embed_refinement", "mag_refinement"),
    "phase_refinement": ("pha_patch_embed_refinement", "pha_refinement"),
}

# Full-key rewrites for everything outside the stages, applied in order.
_SKELETON_RULES = [
    (r"^encoder\.input_conv\.", "dense_encoder.dense_conv_1."),
    (r"^encoder\.dense_block\.layers\.", "dense_encoder.dense_block.dense_block."),
    (r"^encoder\.frequency_downsample\.", "dense_encoder.dense_conv_2."),
    (r"^(mask|phase)_decoder\.dense_block\.layers\.", r"\1_decoder.dense_block.dense_block."),
    (r"^mask_decoder\.learnable_sigmoid\.", "mask_decoder.lsigmoid."),
    (r"^phase_decoder\.real_conv\.", "phase_decoder.phase_conv_r."),
    (r"^phase_decoder\.imaginary_conv\.", "phase_decoder.phase_conv_i."),
    (r"^unet\.down1\.", "TCFTransformer.down1_2."),
    (r"^unet\.down2\.", "TCFTransformer.down2_3."),
    (r"^unet\.up2\.", "TCFTransformer.up3_2."),
    (r"^unet\.up1\.", "TCFTransformer.up2_1."),
    (r"^(TCFTransformer\.(?:down|up)\d_\d\.)depthwise\.", r"\1body.0."),
    (r"^(TCFTransformer\.(?:down|up)\d_\d\.)pointwise\.", r"\1body.1."),
    (r"^unet\.reduce(\d)\.", r"TCFTransformer.reduce_chan_level\1.0."),
    (r"^unet\.magnitude_output\.", "TCFTransformer.mag_output.0."),
    (r"^unet\.phase_output\.", "TCFTransformer.pha_output.0."),
]

_BLOCK_RULES = {
    "attention_norm.weight": "norm1.body.weight",
    "feedforward_norm.weight": "norm2.body.weight",
    "feedforward.project_in.": "ffn.project_in.",
    "feedforward.depthwise.": "ffn.dwconv.",
    "feedforward.project_out.": "ffn.project_out.",
}

_FUSION_RULES = {"squeeze.": "conv_du.0.", "squeeze_activation.": "conv_du.1.", "excite.": "fcs.0."}


class UpstreamMismatch(ValueError):
    """The file is not an authors' checkpoint of this architecture."""


def _rename_prefix(relative: str, names: dict[str, str]) -> str:
    for ours, theirs in sorted(names.items(), key=lambda item: -len(item[0])):
        if relative == ours or relative.startswith(ours if ours.endswith(".") else ours + "."):
            return theirs + relative[len(ours) :]
    return relative


def _stage_key(stage: Stage, upstream_embed: str, upstream_stage: str, relative: str) -> str:
    part, _, rest = relative.partition(".")
    if part == "embedding":
        names = getattr(type(stage.embedding), "upstream_names", {})
        return f"TCFTransformer.{upstream_embed}.patch_embeds.0.patch_conv.{_rename_prefix(rest, names)}"
    if part == "fusion":
        return f"TCFTransformer.{upstream_stage}.aggregate.{_rename_prefix(rest, _FUSION_RULES)}"
    if part == "blocks":
        index, _, inner = rest.partition(".")
        layer = f"TCFTransformer.{upstream_stage}.mhca_blks.0.transformer_layers.{index}."
        if inner.startswith("attention."):
            attention = stage.blocks[int(index)].attention
            names = getattr(type(attention), "upstream_names", {})
            return layer + _rename_prefix(inner[len("attention.") :], names)
        return layer + _rename_prefix(inner, _BLOCK_RULES)
    raise KeyError(relative)


def use_upstream_order(model: nn.Module, enabled: bool = True) -> int:
    """Make every block of `model` that can compute in the authors' order of operations do so (or stop);
    returns how many blocks it set.

    Our `ChannelLayerNorm`, MALA and MUSE's Taylor attention compute the same functions as upstream's in
    a faster order, MUSE's deformable convolution sums in another order than torchvision's kernel, and in
    training the feed-forward and dense blocks take a faster layout (`imse.blocks.trains_fast`); all
    round differently. Float rounding is all that differs, but AdamW's first steps scale
    every element's gradient to about the learning rate, so that rounding moves many weights:
    after three steps from the same state, 19% of IMSE's and 84% of MUSE's weights were more than
    1e-5 from what the authors' code gives on the same machine; in upstream's order, 0.035% and
    0.056% (docs/training-parity.md). Training uses it with `--numerics upstream`.
    """
    blocks = [module for module in model.modules() if hasattr(type(module), "upstream_order")]
    for block in blocks:
        block.upstream_order = enabled
    return len(blocks)


def upstream_key_map(model: nn.Module) -> dict[str, str]:
    """Our state-dict key -> the authors' key, for every tensor in `model.state_dict()`."""
    mapping = {}
    for key in model.state_dict():
        stage_name = key.split(".")[1] if key.startswith("unet.") else None
        if stage_name in _STAGES:
            stage = getattr(model.unet, stage_name)
            relative = key[len(f"unet.{stage_name}.") :]
            mapping[key] = _stage_key(stage, *_STAGES[stage_name], relative)
            continue
        upstream = key
        for pattern, replacement in _SKELETON_RULES:
            upstream = re.sub(pattern, replacement, upstream)
        mapping[key] = upstream
    return mapping


def _constants(model: nn.Module) -> dict[str, torch.Tensor]:
    """Upstream keys of tensors we compute instead of load, with our values."""
    constants = {}
    for stage_name, (_, upstream_stage) in _STAGES.items():
        stage = getattr(model.unet, stage_name)
        for index, block in enumerate(stage.blocks):
            attention = block.attention
            for theirs, attribute in getattr(type(attention), "upstream_constants", {}).items():
                key = f"TCFTransformer.{upstream_stage}.mhca_blks.0.transformer_layers.{index}.{theirs}"
                constants[key] = getattr(attention, attribute)
    return constants


def declared_mapping(model: nn.Module) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The model's own (key map, constants) if it declares them, else the U-Net skeleton's."""
    if callable(getattr(model, "upstream_key_map", None)):
        constants = model.upstream_constants() if callable(getattr(model, "upstream_constants", None)) else {}
        return model.upstream_key_map(), constants
    return upstream_key_map(model), _constants(model)


def load_upstream_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "") -> None:
    """Load the authors' generator weights strictly: every tensor used, none missing, shapes equal."""
    mapping, constants = declared_mapping(model)
    expected = set(mapping.values()) | set(constants)
    missing = sorted(expected - set(state_dict))
    unused = sorted(set(state_dict) - expected)
    where = f"{source}: " if source else ""
    if missing or unused:
        raise UpstreamMismatch(
            f"{where}not an authors' checkpoint of this architecture: "
            f"{len(missing)} tensors missing (first: {missing[:3]}), {len(unused)} unused (first: {unused[:3]})"
        )
    for key, value in constants.items():
        stored = state_dict[key]
        if stored.shape != value.shape or not torch.allclose(stored.to(value), value, rtol=1e-6, atol=1e-9):
            raise UpstreamMismatch(f"{where}{key} differs from the value this architecture computes")
    ours = {}
    for our_key, their_key in mapping.items():
        tensor = state_dict[their_key]
        target = model.state_dict()[our_key]
        if tensor.shape != target.shape:
            raise UpstreamMismatch(
                f"{where}{their_key} has shape {tuple(tensor.shape)}, expected {tuple(target.shape)}"
            )
        ours[our_key] = tensor
    model.load_state_dict(ours, strict=True)


def is_upstream_state_dict(state_dict: dict[str, torch.Tensor], model: nn.Module | None = None) -> bool:
    """Whether a generator state dict uses the authors' names rather than ours: for a model that
    declares its own mapping, any key that is not one of ours; for the U-Nets, their prefix."""
    if model is not None and callable(getattr(model, "upstream_key_map", None)):
        return not set(state_dict) <= set(model.state_dict())
    return any(key.startswith("TCFTransformer.") for key in state_dict)
