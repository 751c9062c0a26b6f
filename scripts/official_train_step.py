"""Re-make a training-step reference with the authors' own code, on this machine.

    python scripts/official_train_step.py --repository ~/src/IMSE \
        --checkpoint ../shared/checkpoints/imse/g_best_pesq_3.399 \
        --reference ../shared/parity/imse_train_step.pt --output imse_train_step_here.pt
    python -m bench.train.parity imse_train_step_here.pt

The references in ../shared/parity were made with torch's own kernel choice on an AVX-512
CPU (oneDNN's AVX-512 convolutions): on such a CPU this script gives IMSE's file back bit for
bit. Float rounding follows the kernels, and AdamW's first steps turn per-element rounding
into weight changes of about the learning rate, so on a CPU with other kernels (or with
ONEDNN_MAX_CPU_ISA=AVX2) even the authors' code ends with 38% of IMSE's weights more than
1e-5 from that file (docs/training-parity.md). There, make the reference here. This script
runs the loop body of the authors' `train.py` (their generator, discriminator, losses, PESQ
targets and AdamW, imported from --repository, not copied) from the reference's state on its
batch, for as many steps, and writes what it computed in the reference's own format: the
file `bench.train.parity` then compares our trainer with the authors' code on one machine,
both with torch's own kernel choice (the script records it in the file's `about`).

It needs what the authors' code imports: einops, joblib and pesq. torchvision and triton are
imported by the authors' IMSE module but not used on its path; where they cannot be imported
(PyPI's torchvision does not load beside torch 2.13), they are replaced by empty modules, and
the script says so. MUSE's path uses torchvision's DeformConv2d, so MUSE needs the real one.
It does not import this project, so that it runs in the authors' own environment as well.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

UNUSED_ON_IMSE_PATH = ("torchvision", "torchvision.ops", "torchvision.ops.deform_conv", "triton", "triton.language")
GENERATOR_CLASSES = {"IMSE": "IMSE", "MUSE": "MUSE"}


def _stub_unused_modules(model: str) -> list[str]:
    """Empty stand-ins for torchvision and triton where they cannot be imported; the names stubbed."""
    try:
        importlib.import_module("torchvision.ops.deform_conv")
        importlib.import_module("triton.language")
        return []
    except Exception as error:  # noqa: BLE001 - missing, or a torchvision built for another torch
        if model != "IMSE":
            raise SystemExit(f"{model}'s path uses torchvision's DeformConv2d, which cannot be imported here; "
                             "run this in the authors' environment (torch and torchvision installed together)"
                             ) from error
    for name in UNUSED_ON_IMSE_PATH:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["torchvision.ops.deform_conv"].DeformConv2d = None
    triton = sys.modules["triton"]
    triton.jit = lambda function=None, **_: function if function else (lambda inner: inner)
    triton.autotune = lambda *_, **__: (lambda inner: inner)
    triton.Config = lambda *_, **__: None
    triton.language = sys.modules["triton.language"]
    triton.language.constexpr = int
    return list(UNUSED_ON_IMSE_PATH)


def _module_from_file(name: str, path: Path) -> types.ModuleType:
    """A module loaded from its file (the repository's `datasets/` has no __init__ and would lose to the
    `datasets` package on the path)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_steps(repository: Path, checkpoint: Path, reference: dict) -> dict:
    """The authors' loop body from the reference's state; a reference dict of what it computed."""
    model = "MUSE" if (repository / "models" / "MUSE_net.py").is_file() else "IMSE"
    sys.path.insert(0, str(repository))
    stubbed = _stub_unused_modules(model)
    if stubbed:
        print(f"torchvision/triton cannot be imported here: stubbed {', '.join(stubbed)} (unused on IMSE's path)",
              file=sys.stderr)
    if "librosa" not in sys.modules and importlib.util.find_spec("librosa") is None:
        sys.modules["librosa"] = types.ModuleType("librosa")  # imported by their dataset module, used for reading
    env = importlib.import_module("env")
    generator_module = importlib.import_module("models.generator")
    discriminator_module = importlib.import_module("models.discriminator")
    dataset = _module_from_file("official_dataset", repository / "datasets" / "dataset.py")
    for name in stubbed:  # torch's own lazy imports (the optimiser's) must not meet the stand-ins
        sys.modules.pop(name, None)
    h = env.AttrDict(json.loads((repository / "config.json").read_text(encoding="utf-8")))
    generator = getattr(generator_module, GENERATOR_CLASSES[model])(h)
    generator.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["generator"])
    discriminator = discriminator_module.MetricDiscriminator()
    discriminator.load_state_dict(reference["discriminator_init"])
    for module in discriminator.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # as the references were made: a deterministic step
    generator.train()
    discriminator.train()
    optim_g = torch.optim.AdamW(generator.parameters(), h.learning_rate, betas=[h.adam_b1, h.adam_b2])
    optim_d = torch.optim.AdamW(discriminator.parameters(), h.learning_rate, betas=[h.adam_b1, h.adam_b2])
    clean_audio, clean_mag, clean_pha = reference["clean_audio"], reference["clean_magnitude"], reference["clean_phase"]
    clean_com = torch.stack((clean_mag * torch.cos(clean_pha), clean_mag * torch.sin(clean_pha)), dim=-1)
    noisy_mag, noisy_pha = reference["noisy_magnitude"], reference["noisy_phase"]
    one_labels = torch.ones(clean_audio.shape[0])
    steps, gradients = [], {}
    for step in range(len(json.loads(reference["steps_json"]))):
        mag_g, pha_g, com_g = generator(noisy_mag, noisy_pha)
        audio_g = dataset.mag_pha_istft(mag_g, pha_g, h.n_fft, h.hop_size, h.win_size, h.compress_factor)
        targets = discriminator_module.batch_pesq(list(clean_audio.numpy()), list(audio_g.detach().numpy()))
        optim_d.zero_grad()
        metric_r = discriminator(clean_mag, clean_mag)
        metric_g = discriminator(clean_mag, mag_g.detach())
        loss_disc_r = F.mse_loss(one_labels, metric_r.flatten())
        loss_disc_g = F.mse_loss(targets, metric_g.flatten()) if targets is not None else torch.zeros(())
        loss_disc_all = loss_disc_r + loss_disc_g
        loss_disc_all.backward()
        if step == 0:
            gradients["discriminator"] = {name: p.grad.clone() for name, p in discriminator.named_parameters()}
        optim_d.step()
        optim_g.zero_grad()
        loss_mag = F.mse_loss(clean_mag, mag_g)
        loss_ip, loss_gd, loss_iaf = generator_module.phase_losses(clean_pha, pha_g, h)
        loss_com = F.mse_loss(clean_com, com_g) * 2
        loss_metric = F.mse_loss(discriminator(clean_mag, mag_g).flatten(), one_labels)
        loss_gen_all = loss_metric * 0.05 + loss_mag * 0.9 + (loss_ip + loss_gd + loss_iaf) * 0.3 + loss_com * 0.1
        loss_gen_all.backward()
        if step == 0:
            gradients["generator"] = {name: p.grad.clone() for name, p in generator.named_parameters()
                                      if p.grad is not None}
        optim_g.step()
        steps.append({
            "pesq_targets": None if targets is None else targets.tolist(),
            "loss_disc_real": loss_disc_r.item(), "loss_disc_generated": loss_disc_g.item(),
            "loss_disc": loss_disc_all.item(), "loss_metric": loss_metric.item(), "loss_magnitude": loss_mag.item(),
            "loss_instantaneous_phase": loss_ip.item(), "loss_group_delay": loss_gd.item(),
            "loss_instantaneous_frequency": loss_iaf.item(), "loss_complex": loss_com.item(),
            "loss_generator": loss_gen_all.item(),
        })
    return {
        **reference,
        "about": f"{reference['about']}; re-made by scripts/official_train_step.py from {repository} on this "
                 f"machine, torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU kernels: ATen "
                 f"{torch.backends.cpu.get_cpu_capability()}, oneDNN up to "
                 f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'the widest for this CPU')}",
        "steps_json": json.dumps(steps),
        "generator_gradients_step1": gradients["generator"],
        "discriminator_gradients_step1": gradients["discriminator"],
        "generator_after": generator.state_dict(),
        "discriminator_after": discriminator.state_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, required=True, help="a checkout of the authors' IMSE or MUSE")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the authors' generator checkpoint")
    parser.add_argument("--reference", type=Path, required=True, help="the shared reference to start from")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args(argv)
    for path in (arguments.repository / "train.py", arguments.checkpoint, arguments.reference):
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    torch.set_num_threads(arguments.threads)
    reference = torch.load(arguments.reference, map_location="cpu", weights_only=True)
    made = official_steps(arguments.repository.resolve(), arguments.checkpoint, reference)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    partial = arguments.output.with_name(arguments.output.name + ".partial")
    torch.save(made, partial)
    partial.replace(arguments.output)
    print(f"wrote {arguments.output}: {len(json.loads(made['steps_json']))} official steps made here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
