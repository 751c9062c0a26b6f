"""IMSE's own registrations, in the same shape as a plug-in's `register` function:
its two blocks (IDConv embedding, MALA attention), the model and the authors' weights.
"""

from __future__ import annotations

from imse.idconv import InceptionDepthwiseEmbedding
from imse.mala import MagnitudeAwareLinearAttention
from imse.pretrained import PretrainedBundle
from imse.registry import ModelSpec, Registry
from imse.unet import ModelConfig

IMSE_CONFIG = ModelConfig(embedding="idconv", attention="mala", heads=(2, 4, 6))
"""The paper's IMSE: heads dim // 8 at widths 16, 32, 48."""



def _imse_bundle(pesq: str, paper: str, commit: str, sha256: str) -> PretrainedBundle:
    """The authors' weights of one arXiv version, named by the PESQ it reports."""
    return PretrainedBundle(
        name=f"imse-vb-{pesq}",
        model="imse",
        repository="XinXinTang123/IMSE",
        commit=commit,
        repository_path=f"paper_result/g_best_pesq_{pesq}",
        sha256=sha256,
        cache_path=f"imse/g_best_pesq_{pesq}",
        description=f"official IMSE weights of arXiv {paper} (reported PESQ {pesq} on VoiceBank+DEMAND)",
    )


IMSE_BUNDLES = (
    _imse_bundle("3.399", "v2", "1b0e01dc054a49500cc81f2fc3eecf64467eb73e",
                 "c8e21c89fba61c2ac168ad5a9d50a3861ae2640bab3036eacbeb023d00dc07a1"),
    _imse_bundle("3.373", "v1", "f7bd3874764b04e446c4157e0ff7a87e8a5d2c8e",
                 "575de13bd5ee1451d52c99f01ee954c5275b86d48439c71807737e82760988d7"),
)


def register(registry: Registry) -> None:
    """Add IDConv, MALA, the IMSE model and its two released weights."""
    registry.add_embedding("idconv", InceptionDepthwiseEmbedding)
    registry.add_attention("mala", MagnitudeAwareLinearAttention)
    registry.add_model(ModelSpec("imse", IMSE_CONFIG, "IMSE (Tang, Qin, Li, 2025): IDConv embedding + MALA attention"))
    for bundle in IMSE_BUNDLES:
        registry.add_bundle(bundle)
