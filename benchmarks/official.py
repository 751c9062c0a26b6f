"""Where the authors' code lives for the speed ratios: its Python and its repository checkout.

OFFICIAL_PYTHON names an environment with the official code's dependencies (torch 2.14.1,
torchvision 0.29.1, einops, librosa, joblib); OFFICIAL_IMSE_REPOSITORY and
OFFICIAL_MUSE_REPOSITORY name checkouts of the authors' repositories. A benchmark that
needs them is skipped, saying which to set, when they are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest


def official_code(system: str) -> tuple[str, str]:
    """(python, repository) for `system`; skips the calling benchmark when either is unset."""
    variable = f"OFFICIAL_{system.upper()}_REPOSITORY"
    python, repository = os.environ.get("OFFICIAL_PYTHON"), os.environ.get(variable)
    if not python or not repository:
        pytest.skip(f"set OFFICIAL_PYTHON and {variable} to compare with the official code")
    return python, repository


def run_official(script: str, python: str, arguments: list[str]):
    """Run one of the official-code timing scripts beside this file; its last stdout line, as JSON."""
    output = subprocess.run(
        [python, str(Path(__file__).with_name(script)), *arguments],
        check=True,
        capture_output=True,
        text=True,
        cwd="/tmp",  # not our tree: its `models` is theirs
    ).stdout
    return json.loads(output.strip().splitlines()[-1])
