"""Parity of our training step with the authors' (issue 16, section 1): `python -m bench.train.parity`
on the references in ../shared/parity, made by the official train.py loop body.

The comparisons here are computed from the tool's --json and the reference file, with the
issue's tolerances, independently of the tool's own verdict.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.cpu_kernels import PINNED
from bench.train.discriminator import MetricDiscriminator, spectral_norm
from bench.train.parity import gradient_agreement, main, weight_agreement
from imse.registry import registry
from tests.dummies.cpu import unlike_the_reference_cpu

LOSS_RELATIVE, LOSS_ABSOLUTE, PESQ_TARGET = 1e-3, 1e-7, 1e-3
WEIGHT_SHARE = 0.005
REPOSITORY = Path(__file__).resolve().parents[1]


def test_spectral_norm_is_upstreams(one_torch_thread):
    """Our discriminator's spectral norm computes what torch's older `nn.utils.spectral_norm` (upstream's)
    does, bit for bit, over several training calls: weights, u and v. torch's parametrization (u first,
    15 start iterations) gives another sigma after one call and fails this."""
    torch.manual_seed(0)
    upstream = nn.utils.spectral_norm(nn.Conv2d(2, 8, 4, stride=2, padding=1, bias=False))
    ours = spectral_norm(nn.Conv2d(2, 8, 4, stride=2, padding=1, bias=False))
    with torch.no_grad():
        ours.parametrizations.weight.original.copy_(upstream.weight_orig)
        ours.parametrizations.weight[0]._u.copy_(upstream.weight_u)
        ours.parametrizations.weight[0]._v.copy_(upstream.weight_v)
    batch = torch.randn(2, 2, 16, 16)
    for _ in range(3):
        upstream_out, our_out = upstream(batch), ours(batch)
        assert torch.equal(upstream_out, our_out)
    assert torch.equal(ours.parametrizations.weight[0]._u, upstream.weight_u)
    assert torch.equal(ours.parametrizations.weight[0]._v, upstream.weight_v)
    upstream_out.sum().backward()
    our_out.sum().backward()
    assert torch.equal(ours.parametrizations.weight.original.grad, upstream.weight_orig.grad)


@pytest.fixture(scope="module")
def parity_runs(shared_dir: Path, checkpoint_dir: Path, tmp_path_factory) -> callable:
    """Run the CLI once per reference, as a user's shell would (a fresh process, no kernel variables set: the
    check keeps torch's own kernel choice, as the authors' code did); (exit status, the reference, ours as
    --json wrote it, what it printed)."""
    runs = {}

    def run(name: str) -> tuple[int, dict, dict, str]:
        if name not in runs:
            reference_path = shared_dir / "parity" / f"{name}_train_step.pt"
            if not reference_path.is_file():
                pytest.skip(f"{reference_path} is missing")
            reference = torch.load(reference_path, weights_only=True)
            bundle = registry.bundle("imse-vb-3.399" if name == "imse" else "muse-vb")
            output = tmp_path_factory.mktemp("parity") / f"{name}.json"
            environment = {key: value for key, value in os.environ.items() if key not in PINNED}
            command = [sys.executable, "-m", "bench.train.parity", str(reference_path),
                       "--init", str(checkpoint_dir / bundle.cache_path), "--json", str(output)]
            process = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True)
            if not output.is_file():
                pytest.fail(f"{' '.join(command)} wrote no --json:\n{process.stdout}\n{process.stderr}")
            runs[name] = (process.returncode, reference, json.loads(output.read_text(encoding="utf-8")),
                          process.stdout)
        return runs[name]

    return run


def _loss_failures(reference: dict, ours: dict, steps: range) -> list[str]:
    """Every loss term and PESQ target of `steps` (1-based) outside the issue's tolerances."""
    failures = []
    for number in steps:
        official, mine = json.loads(reference["steps_json"])[number - 1], ours["steps"][number - 1]
        assert set(mine) == set(official), "the --json steps must use the reference's keys"
        for key, value in official.items():
            if key == "pesq_targets":
                failures += [f"step {number} {key}[{index}]: {theirs} vs {our}"
                             for index, (theirs, our) in enumerate(zip(value, mine[key], strict=True))
                             if not abs(our - theirs) <= PESQ_TARGET]
            elif not (abs(mine[key] - value) <= LOSS_ABSOLUTE
                      or abs(mine[key] - value) <= LOSS_RELATIVE * abs(value)):
                failures.append(f"step {number} {key}: {value} vs {mine[key]}")
    return failures


def test_imse_step_losses_and_gradients_match_the_authors(parity_runs):
    """IMSE: every loss term and PESQ target of the three steps, both networks' step-1 gradients and
    the discriminator's weights after them are within the issue's tolerances."""
    _, reference, ours, _ = parity_runs("imse")
    assert _loss_failures(reference, ours, range(1, 4)) == []
    agreement = ours["agreement"]
    for network in ("generator", "discriminator"):
        gradients = agreement[f"{network}_gradients"]
        assert gradients["tensors"] == len(reference[f"{network}_gradients_step1"]) - len(gradients["only_official"])
        assert gradients["relative_l2"] <= 1e-3 and gradients["worst_tensor_relative"] <= 1e-2
    assert agreement["generator_gradients"]["only_official"] == []
    assert agreement["discriminator_weights"]["share_over"] <= WEIGHT_SHARE
    assert agreement["discriminator_weights"]["tensors"] == len(reference["discriminator_after"])


@pytest.mark.parametrize("name", ["imse", "muse"])
def test_parity_passes(parity_runs, name: str):
    """The command the issue names exits 0 on each shared reference, and every weight limit holds. The references
    were made with oneDNN's AVX-512 convolutions: bench's AVX2 pin, which this command does not take, ended with
    38% of IMSE's weights apart (limit 0.5%). MUSE passes only in upstream's order of its attention and its
    deformable convolution (torchvision's CPU kernel's order): without them, 84% and 31% apart."""
    reason = unlike_the_reference_cpu()
    if reason:
        pytest.skip(reason)
    status, _, ours, printed = parity_runs(name)
    assert "oneDNN's widest for this CPU" in printed
    assert ours["agreement"]["generator_weights"]["share_over"] <= WEIGHT_SHARE
    assert ours["agreement"]["generator_gradients"]["relative_l2"] <= 1e-5
    assert status == 0, printed


def test_muse_step_losses_and_discriminator_match_the_authors(parity_runs):
    """MUSE (reference made on torch 2.14.1 with torchvision's DeformConv2d): every loss term and PESQ target of
    the three steps and the discriminator's step-1 gradients and final weights are within the issue's
    tolerances."""
    _, reference, ours, _ = parity_runs("muse")
    assert _loss_failures(reference, ours, range(1, 4)) == []
    agreement = ours["agreement"]
    assert agreement["discriminator_gradients"]["relative_l2"] <= 1e-3
    assert agreement["discriminator_weights"]["share_over"] <= WEIGHT_SHARE


def test_discriminator_loads_the_authors_state_by_its_key_map(shared_dir: Path):
    """Every tensor of the reference's discriminator_init maps onto one of ours, with its shape."""
    path = shared_dir / "parity" / "imse_train_step.pt"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    official = torch.load(path, weights_only=True)["discriminator_init"]
    discriminator = MetricDiscriminator(dropout=0.0)
    mapping = discriminator.upstream_key_map()
    assert sorted(mapping.values()) == sorted(official)
    discriminator.load_state_dict({ours: official[theirs] for ours, theirs in mapping.items()}, strict=True)
    assert math.isclose(discriminator.head[4].slope.item(), official["layers.18.slope"].item())


def test_a_seeded_discriminator_starts_as_upstreams(shared_dir: Path):
    """Built after torch.manual_seed(1234), our discriminator holds upstream's `discriminator_init` (made the
    same way by the authors' code) bit for bit, spectral-norm vectors included: registering a parametrization
    the safe way runs one power iteration that upstream's construction does not, and fails this."""
    path = shared_dir / "parity" / "imse_train_step.pt"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    official = torch.load(path, weights_only=True)["discriminator_init"]
    torch.manual_seed(1234)
    discriminator = MetricDiscriminator(dropout=0.0)
    state = discriminator.state_dict()
    differing = [ours for ours, theirs in discriminator.upstream_key_map().items()
                 if not torch.equal(state[ours], official[theirs])]
    assert differing == []


def test_a_file_that_is_no_reference_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "not-a-reference.pt"
    torch.save({"steps_json": "[]"}, path)
    assert main([str(path)]) == 2
    assert "not a training-step reference" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.pt")]) == 2


@pytest.mark.parametrize(("change", "arguments", "message"), [
    ({"steps_json": "[{"}, [], "is not JSON text"),
    ({"steps_json": "[1, 2]"}, [], "step 1 of its steps_json is not an object"),
    ({"crops": ["a", "b", "c"]}, [], "crops must name the 2 crops"),
    ({}, ["--init", "muse-vb"], "is a 'muse' generator"),
    ("short", [], "its batch cannot be trained here"),
    ({}, ["--json", "/proc/parity.json"], "is not a folder this user can write to"),
    ({}, ["--device", "cuda"], "no CUDA device") if not torch.cuda.is_available() else ({}, [], ""),
])
def test_unusable_input_is_refused_before_any_step(shared_dir: Path, tmp_path: Path, capsys, change, arguments,
                                                   message):
    """Exit 2, naming the file or option, for inputs the check cannot use (1 means parity failed)."""
    path = shared_dir / "parity" / "imse_train_step.pt"
    if not path.is_file() or not message:
        pytest.skip(f"{path} is missing" if message else "a CUDA device is present")
    altered = tmp_path / "altered.pt"
    reference = torch.load(path, weights_only=True)
    if change == "short":  # 1,000 samples: 11 STFT frames, which the U-Net cannot take
        change = {key: reference[key][:, :1000] for key in ("clean_audio", "noisy_audio")}
    torch.save({**reference, **change}, altered)
    assert main([str(altered), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_nan_and_unpaired_tensors_fail_the_agreement():
    """A NaN weight counts as apart, a NaN gradient as infinitely off; a tensor on one side only, or of
    another shape (which would broadcast), fails the verdict."""
    nan = torch.full((3,), float("nan"))
    assert weight_agreement({"a": nan}, {"a": torch.zeros(3)})["share_over"] == 1.0
    assert not gradient_agreement({"a": nan}, {"a": torch.ones(3)})["passed"]
    assert not weight_agreement({"a": torch.zeros(1, 4)}, {"a": torch.zeros(4, 1)})["passed"]
    assert not weight_agreement({"a": torch.zeros(2)}, {"a": torch.zeros(2), "b": torch.zeros(2)})["passed"]
    assert weight_agreement({"a": torch.zeros(2)}, {"a": torch.full((2,), 1e-6)})["passed"]
