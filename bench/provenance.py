"""What made a number: package versions, the command line, the machine. Every result carries it."""

from __future__ import annotations

import functools
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]
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


@functools.cache
def source_revision(root: Path = SOURCE_ROOT) -> str:
    """The git commit of the code that ran, '-dirty' when tracked files differ from it.

    The package version alone does not say which code made a number: every commit is 0.1.0.
    Outside a git checkout (an installed wheel) it says so rather than guessing.
    """
    if not (root / ".git").exists():
        return f"unknown: {root} is not a git checkout"
    try:
        described = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
                                   capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown: git could not describe {root} ({type(error).__name__})"
    return described.stdout.strip()
