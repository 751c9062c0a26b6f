"""MUSE (the IMSE paper's baseline) and the two ablation hybrids, as plug-ins of the IMSE skeleton.

MUSE is the skeleton with deformable embeddings and Taylor attention (1, 2 and 8 heads at
the three widths). The hybrids swap one block of IMSE for MUSE's: `imse-de` puts the
deformable embedding in place of IDConv and keeps MALA; `imse-taylor` keeps IDConv and puts
Taylor attention in place of MALA, with MUSE's heads, since its refinement gate is defined
for 1, 2, 4 or 8 heads only (IMSE's are 2, 4, 6).
"""

from __future__ import annotations

from baselines.muse.attention import TaylorAttention
from baselines.muse.embedding import DeformableEmbedding
from imse.models import IMSE_CONFIG
from imse.pretrained import PretrainedBundle
from imse.registry import ModelSpec, Registry
from imse.unet import ModelConfig

MUSE_HEADS = (1, 2, 8)
MUSE_CONFIG = ModelConfig(embedding="deformable", attention="taylor", heads=MUSE_HEADS)

MUSE_BUNDLE = PretrainedBundle(
    name="muse-vb",
    model="muse",
    repository="huaidanquede/MUSE-Speech-Enhancement",
    commit="38dfcb1ef545572fdc2e5c8aadefab9959ab9b6f",
    repository_path="paper_result/g_best",
    sha256="971e8940511e094aec933ca76f5cdf30c00a088c4966703b75777600e93e196a",
    cache_path="muse/g_best",
    description="official MUSE weights (the IMSE paper's baseline) on VoiceBank+DEMAND",
)


def register(registry: Registry) -> None:
    """Add the deformable embedding, Taylor attention, MUSE, the hybrids and MUSE's weights."""
    registry.add_embedding("deformable", DeformableEmbedding)
    registry.add_attention("taylor", TaylorAttention)
    registry.add_model(
        ModelSpec("muse", MUSE_CONFIG, "MUSE (Lin et al., 2024): deformable embedding + Taylor attention")
    )
    registry.add_model(
        ModelSpec(
            "imse-de",
            ModelConfig(embedding="deformable", attention=IMSE_CONFIG.attention, heads=IMSE_CONFIG.heads),
            "ablation: IMSE with MUSE's deformable embedding in place of IDConv (MALA attention)",
        )
    )
    registry.add_model(
        ModelSpec(
            "imse-taylor",
            ModelConfig(embedding=IMSE_CONFIG.embedding, attention="taylor", heads=MUSE_HEADS),
            "ablation: IMSE with MUSE's Taylor attention (heads 1, 2, 8) in place of MALA (IDConv embedding)",
        )
    )
    registry.add_bundle(MUSE_BUNDLE)
