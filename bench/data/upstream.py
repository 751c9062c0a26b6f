"""The upstream 16 kHz layout: wavs_clean/, wavs_noisy/, training.txt and test.txt.

This is how the MUSE and IMSE repositories expect VoiceBank+DEMAND. Each list line
starts with the utterance id; what follows the first `|` (the authors' absolute paths)
is ignored, and the pair is read from wavs_clean/<id>.wav and wavs_noisy/<id>.wav.
An optional conditions.csv (`bench.conditions`) adds the mixing conditions; the caches
this package builds write one.
"""

from __future__ import annotations

from pathlib import Path

from bench.conditions import CONDITIONS, Condition, ConditionsError, read_conditions
from bench.data.source import Source
from bench.data.utterance import SAMPLE_RATE, TEST, TRAIN, DataError, Utterance, check_pair, speaker_of
from imse.audio import read_audio

CLEAN = "wavs_clean"
NOISY = "wavs_noisy"
LISTS = {TRAIN: "training.txt", TEST: "test.txt"}
REQUIRED = (CLEAN, NOISY, *LISTS.values())


def read_list(path: Path) -> list[str]:
    """Utterance ids of a list file, refusing duplicates and blank ids."""
    ids: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        utterance_id = line.split("|", 1)[0].strip()
        if not utterance_id:
            raise DataError(f"{path}:{number}: the line has no utterance id before '|'; fix the line")
        if utterance_id in seen:
            raise DataError(f"{path}:{number}: duplicate id {utterance_id}; each utterance may be listed once")
        seen.add(utterance_id)
        ids.append(utterance_id)
    return ids


def write_lists(root: Path, ids: dict[str, list[str]]) -> None:
    """Write training.txt and test.txt in the upstream `id|clean path|noisy path` form."""
    for split, name in LISTS.items():
        lines = [f"{utterance_id}|{CLEAN}/{utterance_id}.wav|{NOISY}/{utterance_id}.wav" for utterance_id in ids[split]]
        (root / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


class Upstream16kSource(Source):
    """VoiceBank+DEMAND at 16 kHz in the upstream layout."""

    name = "upstream-16k"

    def __init__(
        self, root: Path, *, name: str | None = None, location: str | None = None, claims_full_corpus: bool = False
    ):
        self.root = Path(root)
        self.location = location or str(self.root)
        if name is not None:
            self.name = name
        self.claims_full_corpus = claims_full_corpus
        missing = [part for part in REQUIRED if not (self.root / part).exists()]
        if missing:
            raise DataError(
                f"{self.root}: not the upstream 16 kHz layout, it lacks {', '.join(missing)} "
                f"(expected {', '.join(REQUIRED)})"
            )
        self._ids = {split: read_list(self.root / name) for split, name in LISTS.items()}
        self._conditions = self._read_conditions()
        self.check_disjoint()
        self._check_pairing()
        self.check_counts()

    def _read_conditions(self) -> dict[str, Condition]:
        path = self.root / CONDITIONS
        if not path.is_file():
            return {}
        try:
            return read_conditions(path)
        except ConditionsError as error:
            raise DataError(f"{error}; restore the file or delete it (the conditions are optional)") from None

    def _check_pairing(self) -> None:
        for split, ids in self._ids.items():
            for side in (CLEAN, NOISY):
                absent = [name for name in ids if not (self.root / side / f"{name}.wav").is_file()]
                if absent:
                    raise DataError(
                        f"{self.root / LISTS[split]}: {len(absent)} listed ids have no file in {side}/ "
                        f"(first: {absent[0]}.wav); the pairs are incomplete, restore the files or "
                        "remove them from the list"
                    )
            for utterance_id in ids:
                speaker_of(utterance_id)

    def ids(self, split: str) -> list[str]:
        return sorted(self._ids[split])

    def load(self, split: str, utterance_id: str) -> Utterance:
        clean_path = self.root / CLEAN / f"{utterance_id}.wav"
        noisy_path = self.root / NOISY / f"{utterance_id}.wav"
        clean = read_audio(clean_path, SAMPLE_RATE).samples
        noisy = read_audio(noisy_path, SAMPLE_RATE).samples
        check_pair(utterance_id, clean, noisy, f"{clean_path} / {noisy_path}")
        snr_db, noise_type = self._conditions.get(utterance_id, (None, None))
        return Utterance(utterance_id, self.speaker(utterance_id), clean, noisy, SAMPLE_RATE, snr_db, noise_type)
