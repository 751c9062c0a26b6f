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
        config = AttrDict(json.load(stream))
    generator = getattr(generators, arguments.system.upper())(config)
    discriminator = MetricDiscriminator()
    betas = [config.adam_b1, config.adam_b2]
    generator_optimiser = torch.optim.AdamW(generator.parameters(), config.learning_rate, betas=betas)
    discriminator_optimiser = torch.optim.AdamW(discriminator.parameters(), config.learning_rate, betas=betas)
    generator.train()
    discriminator.train()

    arrays = numpy.load(arguments.batch)
    clean_audio = torch.from_numpy(arrays["clean"]).float()
    noisy_audio = torch.from_numpy(arrays["noisy"]).float()
    stft = (config.n_fft, config.hop_size, config.win_size, config.compress_factor)
    clean_magnitude, clean_phase, clean_complex = mag_pha_stft(clean_audio, *stft)
    noisy_magnitude, noisy_phase, _ = mag_pha_stft(noisy_audio, *stft)
    ones = torch.ones(config.batch_size)

    def step() -> dict[str, float]:
        marks = [time.perf_counter()]
        magnitude, phase, complex_spectrum = generator(noisy_magnitude, noisy_phase)
        marks.append(time.perf_counter())
        enhanced_audio = mag_pha_istft(magnitude, phase, *stft)
        score = batch_pesq(list(clean_audio.cpu().numpy()), list(enhanced_audio.detach().cpu().numpy()))
        marks.append(time.perf_counter())
        discriminator_optimiser.zero_grad()
        clean_score = discriminator(clean_magnitude, clean_magnitude)
        enhanced_score = discriminator(clean_magnitude, magnitude.detach())
        discriminator_loss = functional.mse_loss(ones, clean_score.flatten())
        if score is not None:
            discriminator_loss = discriminator_loss + functional.mse_loss(score, enhanced_score.flatten())
        discriminator_loss.backward()
        discriminator_optimiser.step()
        marks.append(time.perf_counter())
        generator_optimiser.zero_grad()
        magnitude_loss = functional.mse_loss(clean_magnitude, magnitude)
        instantaneous_phase_loss, group_delay_loss, angular_frequency_loss = phase_losses(clean_phase, phase, config)
        complex_loss = functional.mse_loss(clean_complex, complex_spectrum) * 2
        enhanced_score = discriminator(clean_magnitude, magnitude)
        metric_loss = functional.mse_loss(enhanced_score.flatten(), ones)
        phase_loss = instantaneous_phase_loss + group_delay_loss + angular_frequency_loss
        loss = metric_loss * 0.05 + magnitude_loss * 0.9 + phase_loss * 0.3 + complex_loss * 0.1
        marks.append(time.perf_counter())
        loss.backward()
        generator_optimiser.step()
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
