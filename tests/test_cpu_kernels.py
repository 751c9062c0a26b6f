"""The CPU kernels are pinned to AVX2 in every bench process, so seeded numbers do not follow the CPU's width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cpu_kernels import PINNED, pin_instruction_set, running_module

REPOSITORY = Path(__file__).resolve().parents[1]
PROBE = "import bench.regress, torch; torch.ones(3).sum(); print(torch.backends.cpu.get_cpu_capability())"


def capability_in_fresh_process(**environment: str) -> str:
    """The instruction set torch runs with after `import bench.regress`, in a process with this environment."""
    base = {key: value for key, value in os.environ.items() if key not in PINNED}
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=REPOSITORY, env={**base, **environment},
                         capture_output=True, text=True, check=True)
    return run.stdout.strip()


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU's flags from /proc/cpuinfo (Linux)")
def test_bench_pins_avx2_kernels_unless_the_caller_chose():
    if "avx2" not in cpu_flags():
        pytest.skip("this CPU has no AVX2: torch runs narrower kernels here, and the numbers differ (see README)")
    assert capability_in_fresh_process() == "AVX2"
    assert capability_in_fresh_process(ATEN_CPU_CAPABILITY="default") == "DEFAULT"


@pytest.mark.parametrize(("argv", "module"), [
    (["python", "-m", "bench.train.parity", "ref.pt"], "bench.train.parity"),
    (["python", "-X", "dev", "-mbench.train.parity"], "bench.train.parity"),
    (["python", "-m", "bench.train", "--config", "c.json"], "bench.train"),
    (["python", "-c", "import bench", "-m", "bench.train.parity"], None),
    (["python", "script.py"], None),
    (["python", "-m"], None),
    (["python", "-Im", "bench.train.parity"], "bench.train.parity"),
    (["python", "-Wignore", "-u", "-m", "bench.reproduce"], "bench.reproduce"),
    (["python", "script.py", "-m", "bench.train.parity"], None),
    (["python", "/usr/bin/pytest", "-m", "bench.train.parity"], None),
    (["python", "-W", "-m", "script.py"], None),
])
def test_the_running_module_is_read_from_the_command_line(argv, module):
    assert running_module(argv) == module


def test_the_parity_check_keeps_torchs_own_kernels(monkeypatch):
    """The authors' code does not pin, so the check that compares with it does not either; every other
    bench command does, and a variable the caller set is kept."""
    for name in PINNED:
        monkeypatch.delenv(name, raising=False)
    pin_instruction_set(["python", "-m", "bench.train.parity", "ref.pt"])
    assert not any(name in os.environ for name in PINNED)
    pin_instruction_set(["python", "-m", "bench.train", "--profile", "cpu"])
    assert {name: os.environ[name] for name in PINNED} == PINNED
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    pin_instruction_set(["python", "-m", "bench.reproduce"])
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "ALL"
