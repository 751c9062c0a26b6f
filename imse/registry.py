"""One model registry: a name maps to a config (and so to its network, blocks and front end)
and to its pretrained bundles.

Every registration goes through `register(registry)` functions: IMSE's own
(`imse.models.register`) first, then each entry point of the `imse.models` group, in
which `baselines` adds MUSE and the ablation hybrids, so `imse` never imports it. They run
once, the first time anything is looked up, so a model is buildable from its config alone
in a fresh process: nothing has to touch the registry beforehand.

A registered config is a frozen dataclass that knows how to build its network and what
front end the network expects (see `ModelConfigLike` and docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from torch import nn

from imse.frontend import FrontEnd
from imse.pretrained import PretrainedBundle

ENTRY_POINT_GROUP = "imse.models"


class ModelConfigLike(Protocol):
    """What the registry asks of a model's config."""

    @property
    def front_end(self) -> FrontEnd: ...

    def build(self) -> nn.Module: ...

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfigLike: ...


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture."""

    name: str
    config: ModelConfigLike
    description: str

    @property
    def front_end(self) -> FrontEnd:
        return self.config.front_end


class Registry:
    """Plain dictionaries of models, bundles and blocks, filled by `register` functions."""

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self.bundles: dict[str, PretrainedBundle] = {}
        self.embeddings: dict[str, type[nn.Module]] = {}
        """Embedding blocks by name; each is built as cls(in_channels, out_channels)."""
        self.attentions: dict[str, type[nn.Module]] = {}
        """Attention blocks by name; each is built as cls(dim, heads)."""
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
        """IMSE's own registrations, then every `imse.models` entry point; once."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from imse import models

        models.register(self)
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            entry_point.load()(self)

    def _lookup(self, table: dict[str, Any], kind: str, name: str, hint: str = "") -> Any:
        self._load_plugins()
        if name not in table:
            raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}.{hint}")
        return table[name]

    def embedding(self, name: str) -> type[nn.Module]:
        """The embedding block registered under `name`."""
        return self._lookup(self.embeddings, "embedding block", name)

    def attention(self, name: str) -> type[nn.Module]:
        """The attention block registered under `name`."""
        return self._lookup(self.attentions, "attention block", name)

    def model(self, name: str) -> ModelSpec:
        """The spec of a registered model; an unknown name lists the known ones."""
        hint = (f" Models from other packages register through the {ENTRY_POINT_GROUP!r} entry points "
                "(install the project with pip so that they are found).")
        return self._lookup(self.models, "model", name, hint)

    def bundle(self, name: str) -> PretrainedBundle:
        """A registered pretrained bundle; an unknown name lists the known ones."""
        return self._lookup(self.bundles, "pretrained bundle", name)

    def model_names(self) -> list[str]:
        self._load_plugins()
        return sorted(self.models)

    def bundle_names(self) -> list[str]:
        self._load_plugins()
        return sorted(self.bundles)

    def bundle_by_sha256(self, sha256: str) -> PretrainedBundle | None:
        self._load_plugins()
        return next((bundle for bundle in self.bundles.values() if bundle.sha256 == sha256), None)

    def config_from_dict(self, name: str, values: dict[str, Any]) -> ModelConfigLike:
        """A registered model's config rebuilt from a checkpoint's record of it."""
        return type(self.model(name).config).from_dict(values)

    def build(self, name: str, **overrides: Any) -> nn.Module:
        """A freshly initialised model of a registered architecture."""
        config = self.model(name).config
        if overrides:
            config = dataclasses.replace(config, **overrides)
        return config.build()


registry = Registry()
