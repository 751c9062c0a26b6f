"""Checkpoint I/O: hashing, safe loading with weights_only, atomic saving.

Pretrained bundles and training checkpoints both go through here, so an untrusted or
truncated file is handled the same way wherever it comes from.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from imse.atomic import atomic_write


class CheckpointError(ValueError):
    """A checkpoint that cannot be used. The message names the file and the fix."""


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """torch.load with weights_only=True onto the CPU: no arbitrary code from the file runs."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad zip or pickle
        raise CheckpointError(
            f"{path}: cannot be loaded with torch.load(weights_only=True) ({type(error).__name__}: {error}). "
            "It is corrupt, truncated, or holds objects other than tensors; it is refused."
        ) from error


def generator_state_dict(
    checkpoint: dict[str, Any], path: str | os.PathLike, key: str = "generator"
) -> dict[str, torch.Tensor]:
    """The network's weights: `checkpoint[key]` if the file has that entry (upstream IMSE/MUSE and
    ours: 'generator'; a bundle may name another, e.g. GTCRN's 'model'), else the file itself as
    a flat state dict. Other entries (an optimiser's state, an epoch) are ignored."""
    has_key = isinstance(checkpoint, dict) and key in checkpoint
    state = checkpoint[key] if has_key else checkpoint
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors (looked for entry {key!r}, then a flat dict)")
    return state


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """torch.save atomically: a killed job leaves the previous file, never half of a new one."""
    with atomic_write(path, "wb") as stream:
        torch.save(payload, stream)
