"""Atomic directory caches with a manifest: a killed build is never mistaken for a finished one.

A cache is filled in a temporary directory beside its final place. The manifest, listing
every file with its size and SHA-256, is written last, and only then is the directory
renamed into place. A directory without a manifest, or whose files no longer match it,
is a partial cache: it is removed and rebuilt, never read. The temporary directory of a
killed build carries its process id and is removed by the next build once that process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.data.utterance import DataError
from imse.atomic import atomic_write_text, give_default_permissions
from imse.checkpoint import sha256_of

MANIFEST = "manifest.json"
CACHE_VARIABLE = "IMSE_BENCH_CACHE"
FORMAT = 1


def cache_root() -> Path:
    """$IMSE_BENCH_CACHE, else ~/.cache/imse-bench; refused when it cannot be a directory."""
    value = os.environ.get(CACHE_VARIABLE)
    root = Path(value) if value else Path.home() / ".cache" / "imse-bench"
    named = f"${CACHE_VARIABLE}={value}" if value else str(root)
    if root.is_symlink() and not root.exists():
        raise DataError(f"cache root {named} is a broken symbolic link (to {os.readlink(root)}); fix or remove it")
    if root.exists() and not root.is_dir():
        raise DataError(f"cache root {named} is a file, not a directory; point {CACHE_VARIABLE} at a directory")
    return root


def key_digest(key: dict) -> str:
    """A short stable hash of what a cache was built from."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def read_manifest(directory: Path, verify_hashes: bool = False) -> dict | None:
    """The manifest of a complete cache, or None when the cache is missing, partial or changed.

    Complete means: the manifest parses, and every file it lists exists with its recorded
    size and content. Opening stays fast: a file whose size and modification time are as
    recorded is taken as it is; any other file (changed in place, touched, or listed by an
    older manifest without times) is hashed, and then its time is recorded. `verify_hashes`
    hashes every file.
    """
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        return None
    retimed = False
    for name, entry in manifest["files"].items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return None
        modified = path.stat().st_mtime_ns
        if verify_hashes or entry.get("mtime_ns") != modified:
            if sha256_of(path) != entry["sha256"]:
                print(f"{path}: changed since the cache was built (SHA-256 differs)", file=sys.stderr)
                return None
            retimed |= entry.get("mtime_ns") != modified
            entry["mtime_ns"] = modified
    if retimed:
        with contextlib.suppress(OSError):  # a read-only cache is still valid, only hashed again next time
            atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def remove_abandoned_builds(directory: Path) -> None:
    """Delete the temporary directories of builds of `directory` whose process has died."""
    for leftover in directory.parent.glob(f".{directory.name}.partial-*"):
        owner = leftover.name.removeprefix(f".{directory.name}.partial-").split("-", 1)[0]
        if owner.isdigit() and not process_alive(int(owner)):
            shutil.rmtree(leftover, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_cache(directory: Path, key: dict, fill: Callable[[Path], None], describe: str) -> dict:
    """Return the manifest of the cache at `directory`, building it with `fill(temporary)` if needed.

    `key` is stored in the manifest; a complete cache with another key is an error (the
    directory name is meant to be derived from the key). `describe` names the cache in messages.
    """
    manifest = read_manifest(directory)
    if manifest is not None:
        if manifest["key"] != key:
            raise DataError(f"{directory}: cache for {describe} was built from other input; remove the directory")
        return manifest
    if directory.exists():
        print(f"{directory}: partial cache of {describe} (no complete manifest), rebuilding it", file=sys.stderr)
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_builds(directory)
    temporary = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.partial-{os.getpid()}-"))
    try:
        fill(temporary)
        files = {
            path.relative_to(temporary).as_posix(): {
                "bytes": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns, "sha256": sha256_of(path),
            }
            for path in sorted(temporary.rglob("*"))
            if path.is_file()
        }
        manifest = {"format": FORMAT, "describe": describe, "key": key, "files": files}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        give_default_permissions(temporary)  # mkdtemp made it 0700; the cache is as readable as any directory
        try:
            os.rename(temporary, directory)
        except OSError:
            # Another process finished the same cache first; use theirs if it is complete.
            if read_manifest(directory) is None:
                raise
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return read_manifest(directory) or manifest
