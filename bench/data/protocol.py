"""Which utterances train, select and test a model.

- `clean` (the default) holds whole training speakers out for validation, so no model is
  ever selected on the test set.
- `upstream` does what the IMSE and MUSE authors did: it validates (picks the best
  checkpoint) on the test set. Its results are labelled so wherever they appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.data.source import Source
from bench.data.utterance import TEST, TRAIN, DataError

PROTOCOLS = ("clean", "upstream")
# Two training speakers commonly held out of VoiceBank+DEMAND for validation.
VOICEBANK_VALIDATION_SPEAKERS = ("p226", "p287")


@dataclass(frozen=True)
class Protocol:
    """Ids for training, validation and test; the validation ids come from `validation_split`."""

    name: str
    train: tuple[str, ...]
    validation: tuple[str, ...]
    validation_split: str
    test: tuple[str, ...]
    validation_speakers: tuple[str, ...]
    label: str


def default_validation_speakers(source: Source) -> tuple[str, ...]:
    speakers = set(source.speakers(TRAIN))
    if set(VOICEBANK_VALIDATION_SPEAKERS) <= speakers:
        return VOICEBANK_VALIDATION_SPEAKERS
    return source.default_validation_speakers()


def split_for_protocol(
    source: Source, protocol: str = "clean", validation_speakers: tuple[str, ...] | None = None
) -> Protocol:
    """The train/validation/test ids of `source` under `protocol` ('clean' or 'upstream')."""
    train_ids = tuple(source.ids(TRAIN))
    test_ids = tuple(source.ids(TEST))
    if protocol == "upstream":
        return Protocol(
            name="upstream",
            train=train_ids,
            validation=test_ids,
            validation_split=TEST,
            test=test_ids,
            validation_speakers=(),
            label="upstream protocol: checkpoint selected on the test set (as the authors did)",
        )
    if protocol != "clean":
        raise DataError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    held_out = tuple(validation_speakers) if validation_speakers else default_validation_speakers(source)
    speakers = source.speakers(TRAIN)
    unknown = sorted(set(held_out) - set(speakers))
    if unknown:
        raise DataError(f"validation speakers {unknown} are not training speakers of {source.location}: {speakers}")
    if not held_out or set(held_out) == set(speakers):
        raise DataError(
            f"{source.location}: the clean protocol needs training speakers left to train on and at least one "
            f"held out (training speakers: {speakers}); name others or use --protocol upstream"
        )
    held = {utterance_id: source.speaker(utterance_id) in held_out for utterance_id in train_ids}
    return Protocol(
        name="clean",
        train=tuple(utterance_id for utterance_id, is_held in held.items() if not is_held),
        validation=tuple(utterance_id for utterance_id, is_held in held.items() if is_held),
        validation_split=TRAIN,
        test=test_ids,
        validation_speakers=held_out,
        label=f"clean protocol: checkpoint selected on held-out training speakers {', '.join(held_out)}",
    )
