"""Turn a bundle name or a checkpoint file into a ready model, with its provenance.

A bundle name, or a file whose SHA-256 matches a known bundle, fixes the architecture.
Any other file is refused unless the caller accepts unknown files explicitly; then the
architecture comes from the file (our training checkpoints record it) or from `model`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from imse.checkpoint import CheckpointError, generator_state_dict, load_checkpoint, sha256_of
from imse.pretrained import PretrainedBundle
from imse.registry import registry
from imse.upstream import is_upstream_state_dict, load_upstream_state_dict


@dataclass
class LoadedModel:
    """A model in eval mode and where its weights came from."""

    model: nn.Module
    model_name: str
    path: Path
    sha256: str
    bundle: PretrainedBundle | None

    @property
    def label(self) -> str:
        return self.bundle.name if self.bundle else f"{self.model_name}@{self.sha256[:12]}"


def _architecture(checkpoint: dict, model: str | None, path: Path) -> tuple[str, nn.Module]:
    if isinstance(checkpoint, dict) and "config" in checkpoint and "model" in checkpoint:
        name = str(checkpoint["model"])
        if model is not None and model != name:
            raise CheckpointError(f"{path}: holds a {name!r} model, but --model {model!r} was given")
        return name, registry.config_from_dict(name, checkpoint["config"]).build()
    if model is None:
        raise CheckpointError(f"{path}: does not record its architecture; name it with --model")
    return model, registry.build(model)


def load_model(
    checkpoint: str | os.PathLike,
    model: str | None = None,
    trust_unknown: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> LoadedModel:
    """Load weights from a bundle name or a path, strictly, into a model in eval mode."""
    checkpoint = str(checkpoint)
    bundle = None
    if checkpoint in registry.bundle_names():
        bundle = registry.bundle(checkpoint)
        path = bundle.fetch(cache_dir=cache_dir)
        sha256 = bundle.sha256
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(
                f"{checkpoint}: neither a file nor a known bundle; bundles: {', '.join(registry.bundle_names())}"
            )
        sha256 = sha256_of(path)
        bundle = registry.bundle_by_sha256(sha256)
        if bundle is None and not trust_unknown:
            raise CheckpointError(
                f"{path}: SHA-256 {sha256} matches no known bundle ({', '.join(registry.bundle_names())}). "
                "Unknown files are refused; pass trust_unknown=True (--trust-unknown-checkpoint) to load it anyway."
            )
    contents = load_checkpoint(path)
    if bundle is not None:
        if model is not None and model != bundle.model:
            raise CheckpointError(f"{path}: is bundle {bundle.name!r} of model {bundle.model!r}, not {model!r}")
        name, network = bundle.model, registry.build(bundle.model)
    else:
        name, network = _architecture(contents, model, path)
    state = generator_state_dict(contents, path, bundle.state_key if bundle else "generator")
    if is_upstream_state_dict(state, network):
        load_upstream_state_dict(network, state, str(path))
    else:
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise CheckpointError(f"{path}: does not fit model {name!r}: {error}") from error
    return LoadedModel(network.eval(), name, path, sha256, bundle)
