"""One model registry: a name maps to a config (and so to its blocks) and to its pretrained bundles.

`imse` registers IMSE itself. Other packages register through the `imse.models` entry-point
group: each entry point is a function `register(registry)` that may add embedding and
attention blocks, models and bundles. `baselines` adds MUSE and the ablation hybrids that
way, so `imse` never imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import metadata

from torch import nn

from imse.pretrained import PretrainedBundle
from imse.unet import ATTENTIONS, EMBEDDINGS, ModelConfig, SpeechEnhancementNet

ENTRY_POINT_GROUP = "imse.models"


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture."""

    name: str
    config: ModelConfig
    description: str


class Registry:
    """Plain dictionaries of models, bundles and blocks, filled by `register` functions."""

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self.bundles: dict[str, PretrainedBundle] = {}
        self.embeddings = EMBEDDINGS
        self.attentions = ATTENTIONS
        self._plugins_loaded = False

    def add_embedding(self, name: str, block: type[nn.Module]) -> None:
        self.embeddings[name] = block

    def add_attention(self, name: str, block: type[nn.Module]) -> None:
        self.attentions[name] = block

    def add_model(self, spec: ModelSpec) -> None:
        if spec.name in self.models and self.models[spec.name] != spec:
            raise ValueError(f"model {spec.name!r} is registered twice with different specs")
        self.models[spec.name] = spec

    def add_bundle(self, bundle: PretrainedBundle) -> None:
        self.bundles[bundle.name] = bundle

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            entry_point.load()(self)

    def model(self, name: str) -> ModelSpec:
        """The spec of a registered model; an unknown name lists the known ones."""
        self._load_plugins()
        if name not in self.models:
            raise KeyError(
                f"unknown model {name!r}; known: {', '.join(sorted(self.models))}. "
                f"Models from other packages register through the {ENTRY_POINT_GROUP!r} entry points "
                "(install the project with pip so that they are found)."
            )
        return self.models[name]

    def bundle(self, name: str) -> PretrainedBundle:
        """A registered pretrained bundle; an unknown name lists the known ones."""
        self._load_plugins()
        if name not in self.bundles:
            raise KeyError(f"unknown pretrained bundle {name!r}; known: {', '.join(sorted(self.bundles))}")
        return self.bundles[name]

    def model_names(self) -> list[str]:
        self._load_plugins()
        return sorted(self.models)

    def bundle_names(self) -> list[str]:
        self._load_plugins()
        return sorted(self.bundles)

    def bundle_by_sha256(self, sha256: str) -> PretrainedBundle | None:
        self._load_plugins()
        return next((bundle for bundle in self.bundles.values() if bundle.sha256 == sha256), None)

    def build(self, name: str, **overrides) -> SpeechEnhancementNet:
        """A freshly initialised model of a registered architecture."""
        config = self.model(name).config
        if overrides:
            config = dataclasses.replace(config, **overrides)
        return SpeechEnhancementNet(config)


IMSE_CONFIG = ModelConfig()

registry = Registry()
registry.add_model(
    ModelSpec("imse", IMSE_CONFIG, "IMSE (Tang, Qin, Li, 2025): IDConv embedding + MALA attention")
)
for _bundle in (
    PretrainedBundle(
        name="imse-vb-3.399",
        model="imse",
        repository="XinXinTang123/IMSE",
        commit="1b0e01dc054a49500cc81f2fc3eecf64467eb73e",
        repository_path="paper_result/g_best_pesq_3.399",
        sha256="c8e21c89fba61c2ac168ad5a9d50a3861ae2640bab3036eacbeb023d00dc07a1",
        cache_path="imse/g_best_pesq_3.399",
        description="official IMSE weights of arXiv v2 (reported PESQ 3.399 on VoiceBank+DEMAND)",
    ),
    PretrainedBundle(
        name="imse-vb-3.373",
        model="imse",
        repository="XinXinTang123/IMSE",
        commit="f7bd3874764b04e446c4157e0ff7a87e8a5d2c8e",
        repository_path="paper_result/g_best_pesq_3.373",
        sha256="575de13bd5ee1451d52c99f01ee954c5275b86d48439c71807737e82760988d7",
        cache_path="imse/g_best_pesq_3.373",
        description="official IMSE weights of arXiv v1 (reported PESQ 3.373 on VoiceBank+DEMAND)",
    ),
):
    registry.add_bundle(_bundle)
