"""How far MUSE's float32 gradients are from exact ones: the authors' generator and ours, each
against the authors' generator run in float64, on a training-step reference's noisy batch.

    /path/to/official-env/bin/python scripts/muse_float32_error.py \
        --repository ~/src/MUSE-Speech-Enhancement --checkpoint ../shared/checkpoints/muse/g_best \
        --reference ../shared/parity/muse_train_step.pt

It tells a wrong function from rounding, and says which order of operations rounds less: in
float64 the two generators must agree to about 1e-13 if they compute the same function, and in
float32 each one's distance from the float64 gradients is its own rounding error. In our fast
order MUSE's float32 gradients are far nearer the exact ones than the authors' (one reason the
fast order is the default); in upstream's order (`--numerics upstream`: the authors' attention
order and torchvision's deformable-convolution order) ours round as theirs do, which is what the
parity check needs (docs/training-parity.md). The loss is
the mean square of each of the three outputs, a fixed function of all of them, so that only the
generator's forward and backward are measured. It runs in the authors' environment (torchvision's
DeformConv2d) and imports this project from the checkout it lies in.

To find where the authors' error enters: `--float64-inside DeformConv2d` (repeatable; classes
joined by commas go together) adds a row for the authors' generator in float32 with those module
classes computed in float64 (their inputs cast up, their outputs cast back); `--by-stage` prints
the authors' float32 error per top-level stage; `--frames N` keeps the batch's first N frames.
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


def gradients(generator: torch.nn.Module, dtype: torch.dtype, batch: tuple, names: dict[str, str],
              float64_classes: frozenset[str] = frozenset()) -> tuple:
    """(outputs, {our parameter name: gradient}) of a copy of `generator` in `dtype`, with the modules of
    `float64_classes` computed in float64, all in float64 for comparing."""
    model = copy.deepcopy(generator).to(dtype).train()
    compute_in_float64(model, float64_classes)
    outputs = model(*(tensor.to(dtype) for tensor in batch))
    sum(output.square().mean() for output in outputs).backward()
    parameters = dict(model.named_parameters())
    found = {ours: parameters[theirs].grad for ours, theirs in names.items()}
    return [output.detach().double() for output in outputs], {
        name: gradient.double() for name, gradient in found.items() if gradient is not None
    }


def compute_in_float64(model: torch.nn.Module, classes: frozenset[str]) -> None:
    """Make `model`'s modules of the named classes compute in float64 between float32 neighbours (in place)."""
    for module in model.modules():
        if type(module).__name__ in classes:
            module.double()
            module.forward = _cast_around(module.forward)


def _cast_around(forward):
    """`forward` with floating inputs cast to float64 and outputs back to float32."""
    def wrapped(*inputs, **keywords):
        output = forward(*(x.double() if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs),
                         **keywords)
        if torch.is_tensor(output):
            return output.float()
        return type(output)(x.float() if torch.is_tensor(x) else x for x in output)
    return wrapped


def stage_errors(gradient: dict, exact: dict, depth: int = 2) -> dict[str, float]:
    """Relative L2 error of the gradients under each name prefix of `depth` parts (ours, e.g. `encoder.0`; depth 0:
    all together), over the tensors both have. (bench.train.parity's gradient_agreement computes the total too, but
    importing it needs the metrics' packages, which the authors' environment this runs in does not have.)"""
    totals: dict[str, list[float]] = {}
    for name in exact:
        if name in gradient:
            stage = ".".join(name.split(".")[:depth])
            error, norm = totals.setdefault(stage, [0.0, 0.0])
            totals[stage] = [error + (gradient[name] - exact[name]).square().sum().item(),
                             norm + exact[name].square().sum().item()]
    return {stage: (error / norm) ** 0.5 for stage, (error, norm) in totals.items() if norm > 0}


def relative_error(gradient: dict, exact: dict) -> float:
    """Relative L2 error of all gradients together, over the tensors both have."""
    return stage_errors(gradient, exact, depth=0)[""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, required=True, help="a checkout of the authors' MUSE repository")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the authors' MUSE weights (g_best)")
    parser.add_argument("--reference", type=Path, required=True, help="a training-step reference (its noisy batch)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, help="keep the batch's first N frames (default: all)")
    parser.add_argument("--float64-inside", action="append", default=[], metavar="CLASS[,CLASS]",
                        help="add a row: the authors' generator in float32 with these module classes in float64")
    parser.add_argument("--by-stage", action="store_true", help="the authors' float32 error per top-level stage")
    arguments = parser.parse_args(argv)
    if arguments.frames is not None and arguments.frames < 1:
        parser.error(f"--frames must be at least 1, got {arguments.frames}")
    torch.set_num_threads(arguments.threads)
    sys.path.insert(0, str(arguments.repository))
    config = importlib.import_module("env").AttrDict(
        json.loads((arguments.repository / "config.json").read_text(encoding="utf-8"))
    )
    theirs = importlib.import_module("models.generator").MUSE(config)
    theirs.load_state_dict(torch.load(arguments.checkpoint, map_location="cpu", weights_only=True)["generator"])
    present = {type(module).__name__ for module in theirs.modules()}
    for classes in arguments.float64_inside:
        missing = set(classes.split(",")) - present
        if missing:
            parser.error(f"--float64-inside {classes}: the authors' generator has no {', '.join(sorted(missing))}; "
                         f"its module classes: {', '.join(sorted(present))}")
    ours = load_model(arguments.checkpoint, model="muse").model
    mapping = declared_mapping(ours)[0]  # built once: our name -> theirs
    names = {name: mapping[name] for name, _ in ours.named_parameters()}
    reference = torch.load(arguments.reference, map_location="cpu", weights_only=True)
    frames = reference["noisy_magnitude"].shape[-1]
    if arguments.frames is not None and arguments.frames > frames:
        parser.error(f"--frames {arguments.frames}: {arguments.reference} holds {frames} frames")
    batch = tuple(reference[key][..., : arguments.frames] for key in ("noisy_magnitude", "noisy_phase"))
    exact_outputs, exact = gradients(theirs, torch.float64, batch, names)
    own_names = {name: name for name in names}
    rows = [("authors' MUSE, float64 (the reference)", exact_outputs, exact)]
    rows.append(("authors' MUSE, float32", *gradients(theirs, torch.float32, batch, names)))
    for classes in arguments.float64_inside:
        rows.append((f"authors' MUSE, float32, {classes} in float64",
                     *gradients(theirs, torch.float32, batch, names, frozenset(classes.split(",")))))
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
    if arguments.by_stage:
        print("\n| stage (our names) | authors' float32, relative L2 error |\n|---|---|")
        for stage, error in stage_errors(rows[1][2], exact).items():
            print(f"| {stage} | {error:.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
