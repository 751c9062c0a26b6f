"""VoiceBank+DEMAND for the harness: sources and protocols (training crops them in bench.train.batches).

Every source, whatever its layout, yields `Utterance`s: paired, 16 kHz, mono, float32,
with speaker ids. `open_source` picks the source from one `--data` value.
"""

from bench.data.protocol import PROTOCOLS, Protocol, split_for_protocol
from bench.data.resolve import DATA_VARIABLE, open_source
from bench.data.source import Source
from bench.data.utterance import SAMPLE_RATE, SPLITS, TEST, TRAIN, DataError, Skipped, Utterance

__all__ = [
    "DATA_VARIABLE",
    "PROTOCOLS",
    "SAMPLE_RATE",
    "SPLITS",
    "TEST",
    "TRAIN",
    "DataError",
    "Protocol",
    "Skipped",
    "Source",
    "Utterance",
    "open_source",
    "split_for_protocol",
]
