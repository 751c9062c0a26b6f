"""Time the authors' training step on a given batch, for a speed ratio measured in one run.

Run with the Python environment that has the official code's dependencies (torch 2.14.1,
torchvision 0.29.1, einops, librosa, joblib), pointing at a checkout of the official
repository. Nothing of that repository is part of this project; this script calls its
generator, discriminator, STFT, PESQ and loss functions in the order of its `train.py`
loop body (which is not a function one can call), on a batch saved by the benchmark.

    OFFICIAL_PYTHON benchmarks/official_training.py --repository DIR --system imse|muse \
        --batch FILE.npz --threads N --steps K

Prints JSON: for each step, the seconds of its parts (forward, PESQ, discriminator,
generator loss, backward + AdamW) and of the whole step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repository", required=True)
    parser.add_argument("--system", choices=("imse", "muse"), required=True)
    parser.add_argument("--batch", required=True, help=".npz with arrays clean and noisy, [2, samples]")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed steps first: the official PESQ pool (joblib, 15 workers) starts and imports torch in them",
    )
    parser.add_argument("--seed", type=int, default=1234)
    arguments = parser.parse_args()
    sys.path.insert(0, arguments.repository)
    import numpy
    import torch
    import torch.nn.functional as functional
    from datasets.dataset import mag_pha_istft, mag_pha_stft
    from env import AttrDict
    from models import generator as generators
    from models.discriminator import MetricDiscriminator, batch_pesq
    from models.generator import phase_losses

    torch.set_num_threads(arguments.threads)
    torch.manual_seed(arguments.seed)
    with open(f"{arguments.repository}/config.json") as stream:
        h = AttrDict(json.load(stream))
    generator = getattr(generators, arguments.system.upper())(h)
    discriminator = MetricDiscriminator()
    optim_g = torch.optim.AdamW(generator.parameters(), h.learning_rate, betas=[h.adam_b1, h.adam_b2])
    optim_d = torch.optim.AdamW(discriminator.parameters(), h.learning_rate, betas=[h.adam_b1, h.adam_b2])
    generator.train()
    discriminator.train()

    arrays = numpy.load(arguments.batch)
    clean_audio = torch.from_numpy(arrays["clean"]).float()
    noisy_audio = torch.from_numpy(arrays["noisy"]).float()
    clean_mag, clean_pha, clean_com = mag_pha_stft(clean_audio, h.n_fft, h.hop_size, h.win_size, h.compress_factor)
    noisy_mag, noisy_pha, _ = mag_pha_stft(noisy_audio, h.n_fft, h.hop_size, h.win_size, h.compress_factor)
    one_labels = torch.ones(h.batch_size)

    def step() -> dict[str, float]:
        marks = [time.perf_counter()]
        mag_g, pha_g, com_g = generator(noisy_mag, noisy_pha)
        marks.append(time.perf_counter())
        audio_g = mag_pha_istft(mag_g, pha_g, h.n_fft, h.hop_size, h.win_size, h.compress_factor)
        score = batch_pesq(list(clean_audio.cpu().numpy()), list(audio_g.detach().cpu().numpy()))
        marks.append(time.perf_counter())
        optim_d.zero_grad()
        metric_r = discriminator(clean_mag, clean_mag)
        metric_g = discriminator(clean_mag, mag_g.detach())
        loss_disc = functional.mse_loss(one_labels, metric_r.flatten())
        if score is not None:
            loss_disc = loss_disc + functional.mse_loss(score, metric_g.flatten())
        loss_disc.backward()
        optim_d.step()
        marks.append(time.perf_counter())
        optim_g.zero_grad()
        loss_mag = functional.mse_loss(clean_mag, mag_g)
        loss_ip, loss_gd, loss_iaf = phase_losses(clean_pha, pha_g, h)
        loss_com = functional.mse_loss(clean_com, com_g) * 2
        metric_g = discriminator(clean_mag, mag_g)
        loss_metric = functional.mse_loss(metric_g.flatten(), one_labels)
        loss = loss_metric * 0.05 + loss_mag * 0.9 + (loss_ip + loss_gd + loss_iaf) * 0.3 + loss_com * 0.1
        marks.append(time.perf_counter())
        loss.backward()
        optim_g.step()
        marks.append(time.perf_counter())
        parts = ("forward", "pesq", "discriminator", "generator_loss", "backward")
        timing = {part: marks[index + 1] - marks[index] for index, part in enumerate(parts)}
        timing["seconds"] = marks[-1] - marks[0]
        return timing

    for _ in range(arguments.warmup):  # allocator, joblib's worker pool, first-call overheads
        step()
    print(json.dumps([step() for _ in range(arguments.steps)]))


if __name__ == "__main__":
    main()
