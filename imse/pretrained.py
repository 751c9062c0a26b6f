"""Pretrained bundles, in the manner of torchaudio pipelines.

A bundle knows its weights' URL (pinned to an upstream commit), their SHA-256, the
architecture and the sample rate. It finds the file at an explicit path, in a cache
directory ($IMSE_CHECKPOINT_DIR, else the user cache), or downloads it into the cache.
A file whose hash does not match is refused.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from imse.atomic import atomic_write
from imse.checkpoint import CheckpointError, sha256_of
from imse.frontend import SAMPLE_RATE

CACHE_VARIABLE = "IMSE_CHECKPOINT_DIR"


def checkpoint_cache_dir() -> Path:
    """$IMSE_CHECKPOINT_DIR, else $XDG_CACHE_HOME/imse/checkpoints, else ~/.cache/imse/checkpoints."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "imse" / "checkpoints"


@dataclass(frozen=True)
class PretrainedBundle:
    """Released generator weights and everything needed to use them."""

    name: str
    model: str
    repository: str
    commit: str
    repository_path: str
    sha256: str
    cache_path: str
    description: str
    sample_rate: int = SAMPLE_RATE
    state_key: str = "generator"
    """The file's entry that holds the network's weights; the others (optimiser, epoch) are ignored."""

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}/raw/{self.commit}/{self.repository_path}"

    def _check_hash(self, path: Path) -> Path:
        actual = sha256_of(path)
        if actual != self.sha256:
            raise CheckpointError(
                f"{path}: SHA-256 {actual} does not match bundle {self.name!r} ({self.sha256}). "
                "The file is corrupt, truncated or a different checkpoint; delete it and download again."
            )
        return path

    def cached_file(self, cache_dir: str | os.PathLike | None = None) -> Path | None:
        """The bundle's file in the cache, hash-checked, or None if it is not there."""
        directory = Path(cache_dir) if cache_dir else checkpoint_cache_dir()
        if directory.exists() and not directory.is_dir():
            source = "cache_dir" if cache_dir else f"${CACHE_VARIABLE}"
            raise CheckpointError(f"{directory} ({source}) is a file, not a directory of checkpoints; "
                                  f"point {source} at the folder that holds the weights")
        for candidate in (directory / self.cache_path, directory / Path(self.cache_path).name):
            if candidate.is_file():
                return self._check_hash(candidate)
        return None

    def fetch(
        self, path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
        download: bool = True, url: str | None = None,
    ) -> Path:
        """The weights file: an explicit path, else the cache, else a download into the cache."""
        if path is not None:
            return self._check_hash(Path(path))
        cached = self.cached_file(cache_dir)
        if cached is not None:
            return cached
        target = (Path(cache_dir) if cache_dir else checkpoint_cache_dir()) / self.cache_path
        if not download:
            raise CheckpointError(f"bundle {self.name!r} is not in the cache; expected it at {target}")
        return self._download(url or self.url, target)

    def _download(self, url: str, target: Path) -> Path:
        """Download into a temporary file beside `target`, hashing as it arrives; only a file
        whose SHA-256 matches is moved into place."""
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with atomic_write(target, "wb") as stream, tqdm(
                    total=total, unit="B", unit_scale=True, desc=f"downloading {self.name}"
                ) as progress:
                    while chunk := response.read(1 << 16):
                        stream.write(chunk)
                        digest.update(chunk)
                        progress.update(len(chunk))
                    if digest.hexdigest() != self.sha256:
                        raise CheckpointError(
                            f"{url}: downloaded SHA-256 {digest.hexdigest()} does not match bundle {self.name!r} "
                            f"({self.sha256}); nothing was written to {target}. The server sent another file: "
                            "check the bundle's pinned commit, or download it by hand and pass its path."
                        )
        except (urllib.error.URLError, OSError) as error:
            raise CheckpointError(
                f"could not download bundle {self.name!r} from {url} ({error}). If this machine is offline, "
                f"download the file elsewhere and put it at {target} (or set ${CACHE_VARIABLE} to the "
                "directory that holds it, or pass its path)."
            ) from error
        return target
