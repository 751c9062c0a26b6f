"""Atomic file writes: a killed job never leaves a half-written result, cache or checkpoint."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_default_permissions(path: str | os.PathLike) -> None:
    """The mode an ordinary file or directory would have been made with under the umask:
    mkstemp and mkdtemp make theirs private (0600, 0700), which a result must not stay."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file beside `path`; on success rename it over `path`, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    give_default_permissions(temporary)
    try:
        with open(temporary, mode, **open_kwargs) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a whole text file atomically."""
    with atomic_write(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def check_writable_folder(folder: str | os.PathLike) -> None:
    """Raise OSError unless a file can be created in `folder`: checked before long work whose results go
    there (os.access says yes to root for folders no one can write, such as /proc)."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
        pass
