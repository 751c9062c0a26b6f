"""Time the authors' own inference code on given files, for a speed ratio measured in one run.

Run with the Python environment that has the official code's dependencies (torch 2.14.1,
torchvision 0.29.1, einops, librosa, joblib), pointing at a checkout of the official
repository. Nothing of that repository is part of this project; this script only calls it.

    OFFICIAL_PYTHON benchmarks/official_inference.py --repository DIR --system imse|muse \
        --checkpoint FILE --threads N FILE...

Prints JSON: the seconds each file took in the official `process_audio_segment`.
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
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("files", nargs="+")
    arguments = parser.parse_args()
    sys.path.insert(0, arguments.repository)
    import contextlib
    import io

    import soundfile
    import torch
    from env import AttrDict
    from inference import process_audio_segment
    from models import generator

    torch.set_num_threads(arguments.threads)
    with open(f"{arguments.repository}/config.json") as stream:
        config = AttrDict(json.load(stream))
    network = getattr(generator, arguments.system.upper())(config)
    state = torch.load(arguments.checkpoint, map_location="cpu", weights_only=True)["generator"]
    network.load_state_dict(state)
    network.eval()
    seconds = {}
    with torch.no_grad():
        for path in arguments.files:
            audio, _ = soundfile.read(path, dtype="float32")
            waveform = torch.from_numpy(audio)
            times = []
            for _ in range(arguments.repeats):
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # it prints sizes per file
                    process_audio_segment(waveform, network, config, torch.device("cpu"))
                times.append(time.perf_counter() - start)
            seconds[path] = min(times)
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
