"""The authors' GTCRN state-dict names, mapped onto ours in one place.

Our names say what a tensor is (`encoder.2.depthwise.weight`); the official checkpoint uses
its own (`encoder.en_convs.2.depth_conv.weight`). The ERB matrices are stored in the file
(as `erb_fc` / `ierb_fc` weights): they are loaded into our buffers and also declared as
constants, so the loader checks them against what `ERBFilterBank` computes.
"""

from __future__ import annotations

import re

import torch

from baselines.gtcrn.erb import erb_matrix

_RULES = [
    (r"^erb\.analysis$", "erb.erb_fc.weight"),
    (r"^erb\.synthesis$", "erb.ierb_fc.weight"),
    (r"^encoder\.(\d+)\.", r"encoder.en_convs.\1."),
    (r"^decoder\.(\d+)\.", r"decoder.de_convs.\1."),
    (r"^dual_path\.0\.", "dpgrnn1."),
    (r"^dual_path\.1\.", "dpgrnn2."),
    (r"\.groups\.0\.", ".rnn1."),
    (r"\.groups\.1\.", ".rnn2."),
    (r"\.attention\.gru\.", ".tra.att_gru."),
    (r"\.attention\.gate\.", ".tra.att_fc."),
    (r"\.expand\.", ".point_conv1."),
    (r"\.expand_norm\.", ".point_bn1."),
    (r"\.expand_activation\.", ".point_act."),
    (r"\.depthwise\.", ".depth_conv."),
    (r"\.depthwise_norm\.", ".depth_bn."),
    (r"\.depthwise_activation\.", ".depth_act."),
    (r"\.project\.", ".point_conv2."),
    (r"\.project_norm\.", ".point_bn2."),
    (r"\.norm\.", ".bn."),
    (r"\.activation\.", ".act."),
    (r"\.(intra|inter)_norm\.", r".\1_ln."),
]


def upstream_name(key: str) -> str:
    """The official checkpoint's name for one of our state-dict keys."""
    for pattern, replacement in _RULES:
        key = re.sub(pattern, replacement, key)
    return key


def upstream_key_map(keys: list[str]) -> dict[str, str]:
    """Our key -> the authors' key, for each of `keys`."""
    return {key: upstream_name(key) for key in keys}


def upstream_constants(low_bins: int, bands: int, n_fft: int, sample_rate: int) -> dict[str, torch.Tensor]:
    """The authors' keys of the ERB matrices, with the values our filter bank computes."""
    matrix = erb_matrix(low_bins, bands, n_fft, sample_rate)
    return {"erb.erb_fc.weight": matrix, "erb.ierb_fc.weight": matrix.T.contiguous()}
