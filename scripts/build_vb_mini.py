"""Build VB-mini (data/vb-mini): clean speech and noise clips from packages the registries carry.

    python scripts/build_vb_mini.py --downloads DIR [--fetch] [--output data/vb-mini]

What it takes (every file's origin and licence goes into corpus.json and ATTRIBUTION):

- speech: the Asterisk prompt recordings of four professional voices, Debian's
  asterisk-core-sounds-{en,fr,it,ru}-g722 1.6.1-1 (CC-BY-SA-3.0 / CC-BY-3.0). They are
  G.722, a true 16 kHz (50-7000 Hz) codec, decoded here with the public-domain `G722`
  package (`pip install G722==1.2.8`, needed by this script only). Also the five LibriVox
  (public domain) clips of the pocketsphinx 5.1.1 sdist (test/data/librivox).
- noise: recordings from OpenSFX, Debian's openttd-opensfx 1.0.3-2, each clip under its
  own CC-BY-3.0 / CC-BY-SA-3.0 / CC0 licence as its catalogue entry states.

Training speakers en-allison, fr-june, it-carlo and eight noise types; test speakers
ru-ivrvoice and en-librivox and five other noise types, none heard in training. The
speech is normalised to an active level of -26 dBov (ITU-T P.56) and stored as 16-bit
FLAC; noise to -30 dBFS RMS. `--fetch` runs the downloads into DIR first:

    apt-get download asterisk-core-sounds-{en,fr,it,ru}-g722 openttd-opensfx
    pip download --no-deps --no-binary :all: pocketsphinx==5.1.1

DIR must otherwise already hold those five .deb files and the sdist. dpkg-deb unpacks the
.deb files. The mixtures are not built here: bench.data mixes them on first use.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.data.p56 import active_speech_level  # noqa: E402
from imse.audio import resample  # noqa: E402
from imse.frontend import SAMPLE_RATE  # noqa: E402

SEED = 20_250_613
SPEECH_LEVEL_DB = -26.0
NOISE_LEVEL_DB = -30.0
SHORTEST, LONGEST = 1.4, 2.7
EDGE_SILENCE = 0.15
FLAC_LEVEL = 1.0
POCKETSPHINX = "pocketsphinx-5.1.1"
ASTERISK_VERSION = "1.6.1-1"
OPENSFX = "openttd-opensfx"
OPENSFX_VERSION = "1.0.3-2"

# speaker -> (Debian package, voice directory, split, count, licence, credit)
ASTERISK_VOICES = {
    "en-allison": (
        "asterisk-core-sounds-en-g722",
        "en_US_f_Allison",
        "train",
        100,
        "CC-BY-SA-3.0",
        "Allison Smith (http://www.theivrvoice.com), financial contributions by Digium, Inc.",
    ),
    "fr-june": (
        "asterisk-core-sounds-fr-g722",
        "fr_CA_f_June",
        "train",
        100,
        "CC-BY-SA-3.0",
        "June Wallack (http://www.junewallack.com); translated by Clod Patry, Kristopher Lalletti, June Wallack",
    ),
    "it-carlo": (
        "asterisk-core-sounds-it-g722",
        "it_IT_m_Carlo",
        "train",
        100,
        "CC-BY-3.0",
        "Carlo Flora (http://www.carloflora.com); translated by Silvia Petrin",
    ),
    "ru-ivrvoice": (
        "asterisk-core-sounds-ru-g722",
        "ru_RU_f_IvrvoiceRU",
        "test",
        40,
        "CC-BY-3.0",
        "Maxim Topal (http://www.ivrvoice.ru)",
    ),
}
LIBRIVOX_SPEAKER = "en-librivox"
LIBRIVOX_CREDIT = (
    "LibriVox recording of Jane Austen, Sense and Sensibility, chapter 1 (public domain), "
    "as cut into test clips by the CMU pocketsphinx project (whose sdist is BSD-2-Clause, "
    "Copyright 1999-2016 Carnegie Mellon University)"
)
# noise type -> (OpenSFX catalogue index, split)
NOISES = {
    "wind": (52, "train"),
    "applause": (29, "train"),
    "steam": (13, "train"),
    "mining-machinery": (11, "train"),
    "electric-sparking": (12, "train"),
    "helicopter": (24, "train"),
    "sawmill": (40, "train"),
    "bus": (27, "train"),
    "jackhammer": (33, "test"),
    "chainsaw": (56, "test"),
    "jet-take-off": (9, "test"),
    "field-ambience": (36, "test"),
    "monorail": (71, "test"),
}
SYNTHETIC_TRAIN_NOISES = ["speech-shaped", "babble"]
VALIDATION_SPEAKERS = ["fr-june"]


def fetch(downloads: Path) -> None:
    packages = [entry[0] for entry in ASTERISK_VOICES.values()] + [OPENSFX]
    subprocess.run(["apt-get", "download", *packages], cwd=downloads, check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(downloads),
            POCKETSPHINX.replace("-", "=="),
        ],
        check=True,
    )


def unpack(downloads: Path, package: str, into: Path) -> Path:
    debs = sorted(downloads.glob(f"{package}_*_all.deb"))
    if not debs:
        raise SystemExit(f"{downloads}: no {package}_*_all.deb; run with --fetch or apt-get download {package}")
    target = into / package
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(target)], check=True)
    return target


def trim(samples: np.ndarray) -> np.ndarray:
    """Cut leading and trailing near-silence (below 1 % of the peak) to EDGE_SILENCE seconds."""
    loud = np.flatnonzero(np.abs(samples) > 0.01 * np.max(np.abs(samples)))
    keep = int(EDGE_SILENCE * SAMPLE_RATE)
    return samples[max(0, loud[0] - keep) : loud[-1] + keep + 1]


def to_level(samples: np.ndarray, level_db: float, measured_db: float) -> np.ndarray:
    scaled = samples * 10.0 ** ((level_db - measured_db) / 20.0)
    if np.max(np.abs(scaled)) >= 1.0:
        raise SystemExit("a recording would clip at the target level; lower the level")
    return np.round(scaled * 32768.0).astype(np.int16)


def write_flac(path: Path, samples: np.ndarray) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=FLAC_LEVEL)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def decode_g722(path: Path) -> np.ndarray:
    import G722

    decoded = G722.G722(SAMPLE_RATE, 64_000).decode(path.read_bytes())
    return np.asarray(decoded, dtype=np.int16).astype(np.float64) / 32768.0


def asterisk_speech(unpacked: Path, voice: str, count: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """`count` prompts of SHORTEST..LONGEST seconds (after trimming), drawn at random, by name."""
    sounds = unpacked / "usr/share/asterisk/sounds" / voice
    eligible = []
    for path in sorted(sounds.rglob("*.g722")):
        if "silence" in path.parts:
            continue
        samples = decode_g722(path)
        if not np.any(samples):
            continue
        samples = trim(samples)
        if SHORTEST <= samples.size / SAMPLE_RATE <= LONGEST:
            eligible.append((path.relative_to(sounds).as_posix(), samples))
    if len(eligible) < count:
        raise SystemExit(f"{voice}: only {len(eligible)} prompts of {SHORTEST}-{LONGEST} s, {count} wanted")
    chosen = sorted(rng.choice(len(eligible), size=count, replace=False))
    return [eligible[index] for index in chosen]


def librivox_speech(sdist: Path) -> list[tuple[str, np.ndarray]]:
    clips = []
    with tarfile.open(sdist) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if "/test/data/librivox/" in member.name and member.name.endswith(".wav"):
                data = archive.extractfile(member).read()
                samples, rate = soundfile.read(io.BytesIO(data), dtype="float64")
                if rate != SAMPLE_RATE:
                    raise SystemExit(f"{member.name}: {rate} Hz, expected {SAMPLE_RATE}")
                clips.append((member.name.split(f"{POCKETSPHINX}/", 1)[1], trim(samples)))
    return clips


def opensfx_catalogue(unpacked: Path) -> list[tuple[str, bytes]]:
    """(description, WAV bytes) of each entry of opensfx.cat (OpenTTD's sound catalogue)."""
    data = (unpacked / "usr/share/games/openttd/baseset/opensfx/opensfx.cat").read_bytes()
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
    entries = []
    for index in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * index)
        offset &= 0x7FFFFFFF
        name_length = data[offset]
        description = data[offset + 1 : offset + 1 + name_length].rstrip(b"\0").decode("latin-1")
        entries.append((description, data[offset + 1 + name_length : offset + size]))
    return entries


def noise_clip(wav: bytes) -> np.ndarray:
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    return trim(resample(mono, rate, SAMPLE_RATE).astype(np.float64))


def licence_of(description: str) -> str:
    for marker, licence in (
        ("Zero 1.0", "CC0-1.0"),
        ("ShareAlike 3.0", "CC-BY-SA-3.0"),
        ("Attribution 3.0", "CC-BY-3.0"),
    ):
        if marker in description:
            return licence
    raise SystemExit(f"no licence recognised in OpenSFX entry {description!r}")


def gather_speech(downloads: Path, scratch: Path, rng: np.random.Generator) -> tuple[list[tuple], dict]:
    """(speaker, split, number, origin, samples) of every utterance, and each speaker's split, origin and credit."""
    utterances, speakers = [], {}
    for speaker, (package, voice, split, count, licence, credit) in ASTERISK_VOICES.items():
        unpacked = unpack(downloads, package, scratch)
        speakers[speaker] = {
            "split": split,
            "origin": f"Debian {package} {ASTERISK_VERSION}, {voice}",
            "licence": licence,
            "credit": credit,
        }
        for number, (origin, samples) in enumerate(asterisk_speech(unpacked, voice, count, rng), start=1):
            utterances.append((speaker, split, number, f"{voice}/{origin}", samples))
    sdists = sorted(downloads.glob(f"{POCKETSPHINX}.tar.gz"))
    if not sdists:
        raise SystemExit(f"{downloads}: no {POCKETSPHINX}.tar.gz; run with --fetch")
    speakers[LIBRIVOX_SPEAKER] = {
        "split": "test",
        "origin": f"PyPI {POCKETSPHINX} sdist",
        "licence": "public domain",
        "credit": LIBRIVOX_CREDIT,
    }
    for number, (origin, samples) in enumerate(librivox_speech(sdists[0]), start=1):
        utterances.append((LIBRIVOX_SPEAKER, "test", number, f"{POCKETSPHINX}/{origin}", samples))
    return utterances, speakers


def write_noises(downloads: Path, scratch: Path, output: Path) -> list[dict]:
    """Each NOISES clip from OpenSFX, at NOISE_LEVEL_DB, as output/noise/NAME.flac; their corpus.json entries."""
    catalogue = opensfx_catalogue(unpack(downloads, OPENSFX, scratch))
    noises = []
    for name, (index, split) in NOISES.items():
        description, wav = catalogue[index]
        samples = noise_clip(wav)
        level = 10.0 * np.log10(np.mean(samples**2))
        digest = write_flac(output / "noise" / f"{name}.flac", to_level(samples, NOISE_LEVEL_DB, level))
        noises.append(
            {
                "name": name,
                "split": split,
                "file": f"noise/{name}.flac",
                "sha256": digest,
                "seconds": round(samples.size / SAMPLE_RATE, 3),
                "origin": f"Debian {OPENSFX} {OPENSFX_VERSION}, opensfx.cat entry {index}",
                "licence": licence_of(description),
                "credit": description,
            }
        )
    return noises


def write_speech(utterances: list[tuple], output: Path) -> list[dict]:
    """Each utterance at SPEECH_LEVEL_DB active level as output/speech/ID.flac; their corpus.json entries."""
    entries = []
    for speaker, split, number, origin, samples in utterances:
        utterance_id = f"{speaker}_{number:03d}"
        level = active_speech_level(samples, SAMPLE_RATE).level_db
        digest = write_flac(output / "speech" / f"{utterance_id}.flac", to_level(samples, SPEECH_LEVEL_DB, level))
        entries.append(
            {
                "id": utterance_id,
                "speaker": speaker,
                "split": split,
                "file": f"speech/{utterance_id}.flac",
                "sha256": digest,
                "seconds": round(samples.size / SAMPLE_RATE, 3),
                "origin": origin,
            }
        )
    return entries


def build(downloads: Path, output: Path) -> dict:
    """Write the speech and noise clips into `output`; the corpus description (corpus.json)."""
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as scratch:
        utterances, speakers = gather_speech(downloads, Path(scratch), rng)
        noises = write_noises(downloads, Path(scratch), output)
    entries = write_speech(utterances, output)
    return {
        "name": "vb-mini",
        "version": 1,
        "sample_rate": SAMPLE_RATE,
        "seed": SEED,
        "speech_level_dbov": SPEECH_LEVEL_DB,
        "snr_db": {"train": [0.0, 5.0, 10.0, 15.0], "test": [2.5, 7.5, 12.5, 17.5]},
        "noise_types": {
            "train": [n for n, (_, split) in NOISES.items() if split == "train"] + SYNTHETIC_TRAIN_NOISES,
            "test": [n for n, (_, split) in NOISES.items() if split == "test"],
        },
        "validation_speakers": VALIDATION_SPEAKERS,
        "speakers": speakers,
        "noises": noises,
        "utterances": entries,
    }


def attribution(corpus: dict) -> str:
    lines = [
        "VB-mini: clean speech and noise recordings, and where they come from",
        "=" * 68,
        "",
        "Built by `python scripts/build_vb_mini.py --downloads DIR --fetch` (needs `pip install",
        "G722==1.2.8` and dpkg-deb). The speech was trimmed and normalised to -26 dBov active",
        "level; the noise clips were downmixed, resampled to 16 kHz, trimmed and normalised to",
        "-30 dBFS RMS. The noisy mixtures are not stored: bench.data mixes them from corpus.json",
        "on first use. The corpus as a whole is offered under CC-BY-SA-3.0, as its ShareAlike",
        "parts require; each recording also stays under its own licence below.",
        "",
        "Speech",
        "------",
    ]
    for speaker, info in corpus["speakers"].items():
        count = sum(1 for entry in corpus["utterances"] if entry["speaker"] == speaker)
        lines += [
            f"{speaker} ({info['split']}, {count} utterances): {info['origin']}",
            f"  licence: {info['licence']}",
            f"  credit: {info['credit']}",
            "",
        ]
    lines += ["Noise", "-----"]
    for noise in corpus["noises"]:
        lines += [
            f"{noise['file']} ({noise['split']}): {noise['origin']}",
            f"  licence: {noise['licence']}",
            f"  credit: {noise['credit']}",
            "",
        ]
    lines += [
        "Licence texts: https://creativecommons.org/licenses/by-sa/3.0/legalcode,",
        "https://creativecommons.org/licenses/by/3.0/legalcode,",
        "https://creativecommons.org/publicdomain/zero/1.0/legalcode.",
        "The per-utterance origin (the prompt file each utterance was cut from) is in corpus.json.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--downloads", type=Path, required=True, help="directory with the .deb files and the sdist")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "vb-mini")
    parser.add_argument("--fetch", action="store_true", help="download the packages into --downloads first")
    arguments = parser.parse_args()
    arguments.downloads.mkdir(parents=True, exist_ok=True)
    if arguments.fetch:
        fetch(arguments.downloads)
    # built beside its place and swapped in whole: a killed build never leaves half a corpus
    partial = arguments.output.with_name(f".{arguments.output.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    corpus = build(arguments.downloads, partial)
    (partial / "corpus.json").write_text(json.dumps(corpus, indent=1) + "\n", encoding="utf-8")
    (partial / "ATTRIBUTION").write_text(attribution(corpus), encoding="utf-8")
    if arguments.output.exists():
        shutil.rmtree(arguments.output)
    os.rename(partial, arguments.output)
    total = sum(path.stat().st_size for path in arguments.output.rglob("*") if path.is_file())
    print(
        f"{arguments.output}: {len(corpus['utterances'])} utterances, {len(corpus['noises'])} noise clips, "
        f"{total / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
