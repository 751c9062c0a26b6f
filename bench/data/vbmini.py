"""VB-mini: a small, real, redistributable corpus mixed by the VoiceBank+DEMAND recipe.

The repository holds the clean speech and the real noise clips (data/vb-mini, described
by corpus.json, built by scripts/build_vb_mini.py, credited in ATTRIBUTION). The noisy
mixtures are made here, deterministically from the corpus seed, into an atomic cache in
the upstream 16 kHz layout:

- speech-shaped noise and babble are synthesised from the training speech;
- every utterance gets a (noise type, SNR) from its split's lists, balanced over the split;
- the noise is a random stretch of the noise recording, scaled so that the speech's P.56
  active level lies `snr_db` above the noise's RMS level.
"""

from __future__ import annotations

import itertools
import json
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.conditions import Condition, write_conditions
from bench.data.cache import build_cache, cache_root, key_digest
from bench.data.mixing import babble, mix_at_snr, noise_segment, speech_shaped_noise
from bench.data.upstream import CLEAN, CONDITIONS, NOISY, Upstream16kSource, write_lists
from bench.data.utterance import SAMPLE_RATE, SPLITS, TRAIN, DataError
from imse.audio import read_audio, write_audio
from imse.checkpoint import sha256_of

CORPUS = "corpus.json"
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data" / "vb-mini"
SPEECH_SHAPED = "speech-shaped"
BABBLE = "babble"
SYNTHETIC_SECONDS = 30
# The code the mixtures depend on: a change to any of these files gives a new cache.
MIXER_SOURCES = ("vbmini.py", "mixing.py", "p56.py", "upstream.py")


def read_corpus(root: Path) -> dict:
    path = root / CORPUS
    if not path.is_file():
        raise DataError(
            f"{root}: no {CORPUS}; VB-mini lives in data/vb-mini of the repository "
            "(rebuild it with scripts/build_vb_mini.py)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def read_checked(root: Path, entry: dict) -> np.ndarray:
    """A committed recording, refused if its SHA-256 differs from corpus.json."""
    path = root / entry["file"]
    if not path.is_file() or sha256_of(path) != entry["sha256"]:
        raise DataError(f"{path}: missing or changed since corpus.json was written; restore it from git")
    return read_audio(path, SAMPLE_RATE).samples


def condition_plan(corpus: dict, split: str, count: int) -> list[tuple[str, float]]:
    """(noise type, SNR) for each utterance: every combination equally often, in seeded order."""
    combinations = list(itertools.product(corpus["noise_types"][split], corpus["snr_db"][split]))
    plan = [combinations[index % len(combinations)] for index in range(count)]
    order = np.random.default_rng([corpus["seed"], SPLITS.index(split)]).permutation(count)
    return [plan[index] for index in order]


def utterance_generator(seed: int, utterance_id: str) -> np.random.Generator:
    """The random stream of one utterance, independent of the order utterances are mixed in."""
    return np.random.default_rng([seed, zlib.crc32(utterance_id.encode())])


def mix_corpus(root: Path, corpus: dict, target: Path) -> None:
    """Write the mixtures of the corpus at `root` into `target` (upstream layout + conditions.csv)."""
    seed = corpus["seed"]
    speech = {entry["id"]: read_checked(root, entry) for entry in corpus["utterances"]}
    training_speech = [speech[entry["id"]] for entry in corpus["utterances"] if entry["split"] == TRAIN]
    length = SYNTHETIC_SECONDS * SAMPLE_RATE
    noises = {
        SPEECH_SHAPED: speech_shaped_noise(training_speech, length, np.random.default_rng([seed, 101])),
        BABBLE: babble(training_speech, length, np.random.default_rng([seed, 102])),
    }
    noises.update({entry["name"]: read_checked(root, entry) for entry in corpus["noises"]})
    ids = {split: [e["id"] for e in corpus["utterances"] if e["split"] == split] for split in SPLITS}
    conditions = {}
    with tqdm(total=len(speech), desc="mixing VB-mini", unit="utterance") as progress:
        for split in SPLITS:
            for utterance_id, (noise_type, snr_db) in zip(
                ids[split], condition_plan(corpus, split, len(ids[split])), strict=True
            ):
                clean = speech[utterance_id]
                segment = noise_segment(noises[noise_type], clean.size, utterance_generator(seed, utterance_id))
                clean, noisy = mix_at_snr(clean, segment, snr_db, SAMPLE_RATE)
                write_audio(target / CLEAN / f"{utterance_id}.wav", clean, SAMPLE_RATE, "PCM_16")
                write_audio(target / NOISY / f"{utterance_id}.wav", noisy, SAMPLE_RATE, "PCM_16")
                conditions[utterance_id] = Condition(snr_db, noise_type)
                progress.update()
    write_lists(target, ids)
    write_conditions(target / CONDITIONS, conditions)


class VBMiniSource(Upstream16kSource):
    """VB-mini, read from its mixture cache (built on first use)."""

    def __init__(self, root: Path = DEFAULT_ROOT, *, cache: Path | None = None):
        root = Path(root).resolve()
        self.corpus = read_corpus(root)
        key = {
            "kind": "vb-mini-mixtures",
            "corpus": sha256_of(root / CORPUS),
            "mixer": {name: sha256_of(Path(__file__).with_name(name)) for name in MIXER_SOURCES},
        }
        directory = cache or cache_root() / f"vb-mini-{key_digest(key)}"
        build_cache(directory, key, lambda target: mix_corpus(root, self.corpus, target), f"VB-mini {root}")
        super().__init__(directory, name="vb-mini", location=f"{root} (mixtures in {directory})")

    def default_validation_speakers(self) -> tuple[str, ...]:
        return tuple(self.corpus["validation_speakers"])
