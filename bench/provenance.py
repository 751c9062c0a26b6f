"""What made a number: package versions, the command line, the machine. Every result carries it."""

from __future__ import annotations

import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("imse-bench", "torch", "numpy", "scipy", "pesq", "pystoi", "soundfile", "soxr", "pandas", "fvcore",
            "ptflops", "datasets")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages behind our numbers ('absent' when not installed)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        if name in versions:  # "python", which is no distribution
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def command_line() -> str:
    """How this process was started, for the record."""
    return shlex.join([Path(sys.executable).name, *sys.argv])
