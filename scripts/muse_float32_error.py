"""How far MUSE's float32 gradients are from exact ones: the authors' generator and ours, each
against the authors' generator run in float64, on a training-step reference's noisy batch.

    /path/to/official-env/bin/python scripts/muse_float32_error.py \
        --repository ~/src/MUSE-Speech-Enhancement --checkpoint ../shared/checkpoints/muse/g_best \
        --reference ../shared/parity/muse_train_step.pt

Our MUSE's training step differs from the authors' by far more than the authors' code differs
between two machines (docs/training-parity.md). This tells a wrong function from rounding: in
float64 the two generators must agree to about 1e-13 if they compute the same function, and in
float32 each one's distance from the float64 gradients is its own rounding error. The loss is
the mean square of each of the three outputs, a fixed function of all of them, so that only the
generator's forward and backward are measured. It runs in the authors' environment (torchvision's
DeformConv2d) and imports this project from the checkout it lies in.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imse.loading import load_model  # noqa: E402
from imse.upstream import declared_mapping, use_upstream_order  # noqa: E402


def gradients(generator: torch.nn.Module, dtype: torch.dtype, batch: tuple, names: dict[str, str]) -> tuple:
    """(outputs, {our parameter name: gradient}) of a copy of `generator` in `dtype`, in float64 for comparing."""
    model = copy.deepcopy(generator).to(dtype).train()
    outputs = model(*(tensor.to(dtype) for tensor in batch))
    sum(output.square().mean() for output in outputs).backward()
    parameters = dict(model.named_parameters())
    found = {ours: parameters[theirs].grad for ours, theirs in names.items()}
    return [output.detach().double() for output in outputs], {
        name: gradient.double() for name, gradient in found.items() if gradient is not None
    }


def relative_error(gradient: dict, exact: dict) -> float:
    """Relative L2 error of all gradients together, over the tensors both have."""
    names = [name for name in exact if name in gradient]
    difference = sum((gradient[name] - exact[name]).square().sum() for name in names)
    return (difference / sum(exact[name].square().sum() for name in names)).sqrt().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, required=True, help="a checkout of the authors' MUSE repository")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the authors' MUSE weights (g_best)")
    parser.add_argument("--reference", type=Path, required=True, help="a training-step reference (its noisy batch)")
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    sys.path.insert(0, str(arguments.repository))
    config = importlib.import_module("env").AttrDict(
        json.loads((arguments.repository / "config.json").read_text(encoding="utf-8"))
    )
    theirs = importlib.import_module("models.generator").MUSE(config)
    theirs.load_state_dict(torch.load(arguments.checkpoint, map_location="cpu", weights_only=True)["generator"])
    ours = load_model(arguments.checkpoint, model="muse").model
    mapping = declared_mapping(ours)[0]  # built once: our name -> theirs
    names = {name: mapping[name] for name, _ in ours.named_parameters()}
    reference = torch.load(arguments.reference, map_location="cpu", weights_only=True)
    batch = (reference["noisy_magnitude"], reference["noisy_phase"])
    exact_outputs, exact = gradients(theirs, torch.float64, batch, names)
    own_names = {name: name for name in names}
    rows = [("authors' MUSE, float64 (the reference)", exact_outputs, exact)]
    rows.append(("authors' MUSE, float32", *gradients(theirs, torch.float32, batch, names)))
    for order in ("upstream", "fast"):
        use_upstream_order(ours, order == "upstream")
        rows.append((f"ours, float64, --numerics {order}", *gradients(ours, torch.float64, batch, own_names)))
        rows.append((f"ours, float32, --numerics {order}", *gradients(ours, torch.float32, batch, own_names)))
    print(f"batch {tuple(batch[0].shape)}, {arguments.threads} thread(s), torch {torch.__version__}")
    print("| generator | outputs, largest error | gradients, relative L2 error |\n|---|---|---|")
    for label, outputs, gradient in rows[1:]:
        output_error = max((output - exact_output).abs().max().item()
                           for output, exact_output in zip(outputs, exact_outputs, strict=True))
        print(f"| {label} | {output_error:.2e} | {relative_error(gradient, exact):.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
