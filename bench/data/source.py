"""The interface every VoiceBank+DEMAND source offers, and what they share.

A source is opened once (its file lists read, paired and checked) and then reads
utterances on demand, so a training DataLoader can fetch any (split, id) at random.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator

from bench.data.utterance import FULL_CORPUS_COUNTS, SPLITS, DataError, Skipped, Utterance, speaker_of
from imse.audio import AudioError


def check_full_counts(location: str, name: str, counts: dict[str, int]) -> None:
    """Refuse split sizes other than the full corpus's 11,572 / 824, naming the source."""
    for split, expected in FULL_CORPUS_COUNTS.items():
        if counts[split] != expected:
            raise DataError(
                f"{location}: the {name} source should hold the full VoiceBank+DEMAND {split} split of "
                f"{expected} pairs but has {counts[split]}; the download is incomplete, fetch it again "
                "(or, if this subset is deliberate, pass --partial / partial=True)"
            )


class Source(abc.ABC):
    """Paired 16 kHz utterances in the splits `train` and `test`.

    `name` says which kind of source it is, `location` where it lies. A source that
    claims the full corpus has its counts checked against 11,572 / 824 when opened.
    """

    name: str
    location: str
    claims_full_corpus: bool = False

    @abc.abstractmethod
    def ids(self, split: str) -> list[str]:
        """The utterance ids of `split`, sorted."""

    @abc.abstractmethod
    def load(self, split: str, utterance_id: str) -> Utterance:
        """Read one utterance; raises DataError (or AudioError) naming the file when it is bad."""

    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def speaker(self, utterance_id: str) -> str:
        return speaker_of(utterance_id)

    def speakers(self, split: str) -> list[str]:
        return sorted({self.speaker(utterance_id) for utterance_id in self.ids(split)})

    def default_validation_speakers(self) -> tuple[str, ...]:
        """Training speakers the `clean` protocol holds out when none are named: the last one."""
        return tuple(self.speakers("train")[-1:])

    def utterances(self, split: str, skipped: list[Skipped] | None = None) -> Iterator[Utterance]:
        """Every utterance of `split` in id order.

        Bad input raises, naming the file; when a `skipped` list is given, bad utterances
        are recorded there instead and left out, so a summary can count them.
        """
        for utterance_id in self.ids(split):
            try:
                yield self.load(split, utterance_id)
            except (DataError, AudioError) as error:
                if skipped is None:
                    raise
                skipped.append(Skipped(split, utterance_id, str(error)))

    def check_counts(self) -> None:
        """When the source claims the full corpus, its splits must hold 11,572 and 824 pairs."""
        if self.claims_full_corpus:
            check_full_counts(self.location, self.name, {split: len(self.ids(split)) for split in SPLITS})

    def check_disjoint(self) -> None:
        """An id may appear in one split only."""
        shared = sorted(set(self.ids("train")) & set(self.ids("test")))
        if shared:
            raise DataError(
                f"{self.location}: {len(shared)} ids are in both train and test (first: {shared[:3]}); "
                "remove the duplicates from one of the lists"
            )
