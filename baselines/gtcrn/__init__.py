"""GTCRN (Rong, Sun, Lu et al., ICASSP 2024), the ultra-light reference: about 24 K learnable
parameters and 33 MMACs per second, causal, with its own front end (512/256 sqrt-Hann STFT,
complex spectrum, whole utterances, no RMS normalisation).

The released VoiceBank+DEMAND weights are a training checkpoint, {'epoch', 'optimizer',
'model'}: the bundle names 'model' as the entry that holds the weights; the optimiser's state
and the epoch are ignored.

Output length: `imse.enhance` returns the input's length. The official `infer.py` gives its
`istft` no length, so its output stops at the last frame centre, up to 255 samples short.
Over the official output's length the two agree (the input is extended to a whole hop by
reflection, which leaves the official frames unchanged, and the network is causal).
Streaming: `imse.streaming` (`--mode stream`) runs it one 256-sample hop at a time.
"""

from __future__ import annotations

from baselines.gtcrn.config import GTCRN_STFT, GTCRNConfig
from baselines.gtcrn.network import GTCRN, GTCRNCache
from imse.pretrained import PretrainedBundle
from imse.registry import ModelSpec, Registry

__all__ = ["GTCRN", "GTCRN_BUNDLE", "GTCRN_STFT", "GTCRNCache", "GTCRNConfig", "register"]

GTCRN_BUNDLE = PretrainedBundle(
    name="gtcrn-vb",
    model="gtcrn",
    repository="Xiaobin-Rong/gtcrn",
    commit="3862c44808dca492ea5a8a145d2dc2a1028d08c8",
    repository_path="checkpoints/model_trained_on_vctk.tar",
    sha256="a0f0e04421d9fc1efe734d44191f5dc4b973ce59d6546af8d64ad9167e2a9944",
    cache_path="gtcrn/model_trained_on_vctk.tar",
    description="official GTCRN weights trained on VoiceBank+DEMAND (the repository's 'VCTK' checkpoint)",
    state_key="model",
)


def register(registry: Registry) -> None:
    """Add the GTCRN model and its VoiceBank+DEMAND weights."""
    registry.add_model(ModelSpec("gtcrn", GTCRNConfig(), "GTCRN (Rong et al., 2024): ultra-light causal ERB/GTConv "
                                 "network with dual-path grouped RNNs and a complex ratio mask"))
    registry.add_bundle(GTCRN_BUNDLE)
