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
CODE_PATHS = ("imse", "baselines", "bench", "scripts", "pyproject.toml")
"""What makes a number, as opposed to the numbers (results/), their prose (docs/) and their checks (tests/)."""
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


def _git(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=True, timeout=30)


@functools.cache
def source_revision(root: Path = SOURCE_ROOT) -> str:
    """The git commit of the code that ran, '-dirty' when a tracked file under CODE_PATHS differs from it.

    The package version alone does not say which code made a number: every commit is 0.1.0. Only the
    code counts: a job that has already rewritten files under results/ still ran the committed code.
    Outside a git checkout (an installed wheel) it says so rather than guessing.
    """
    if not (root / ".git").exists():
        return f"unknown: {root} is not a git checkout"
    try:
        head = _git(root, "rev-parse", "HEAD")
        changed = _git(root, "diff", "--quiet", "HEAD", "--", *CODE_PATHS)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown: git could not read {root} ({type(error).__name__})"
    if head.returncode != 0 or changed.returncode not in (0, 1):
        return f"unknown: git could not read {root} ({(head.stderr or changed.stderr).strip()})"
    return head.stdout.strip() + ("-dirty" if changed.returncode == 1 else "")
