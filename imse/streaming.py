"""Frame-by-frame enhancement for causal models: one hop of samples in, one hop out.

A model can stream if it runs a few frames at a time with a cache: it has `stream_cache()`
(a fresh cache: silence before the first frame) and `step(spectrum, cache)` -> (enhanced,
cache), on the complex [batch, frequency, frames, 2] representation with a window of two
hops (GTCRN). IMSE and MUSE are not causal (attention and convolutions look at the whole
segment, future included), so they are refused.

`StreamingEnhancer` gives exactly what the whole-utterance pass (`imse.enhance`) gives,
delayed by one hop: the first `push` returns a hop of zeros, and push k returns the output
samples of hop k - 1. Frame 0 is the centred STFT's, whose reflected left half needs sample
`hop`, so it runs with frame 1; `finish` takes the last partial hop and extends the end as
the front end declares. The algorithmic latency is one window (two hops: 32 ms for GTCRN).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from imse.dsp import stft_window
from imse.frontend import FrontEnd


class NotStreamableError(ValueError):
    """The model cannot run frame by frame (it is not causal, or its front end does not allow it)."""


def check_streamable(model: nn.Module, name: str | None = None) -> FrontEnd:
    """The model's front end, if the model can stream; else NotStreamableError saying why."""
    front_end: FrontEnd = model.config.front_end
    name = f"model {name!r}" if name else type(model).__name__
    if not (callable(getattr(model, "step", None)) and callable(getattr(model, "stream_cache", None))):
        raise NotStreamableError(
            f"{name} is not causal, so it cannot stream: its output at a frame depends on later frames "
            "(IMSE and MUSE attend over the whole segment). Use --mode segmented or full; "
            "--mode stream is for causal models such as GTCRN."
        )
    stft = front_end.stft
    if front_end.representation != "complex" or stft.n_fft != 2 * stft.hop_length or stft.win_length != stft.n_fft:
        raise NotStreamableError(f"{name}: streaming needs the complex representation and a window of two hops")
    if front_end.rms_normalisation or front_end.segment_size is not None:
        raise NotStreamableError(f"{name}: streaming needs a front end without RMS normalisation or segments")
    return front_end


class StreamingEnhancer:
    """Feed one hop at a time (`push`), then the last partial hop (`finish`)."""

    def __init__(self, model: nn.Module) -> None:
        self.front_end = check_streamable(model)
        self.model = model
        self.hop = self.front_end.stft.hop_length
        self.window = stft_window(self.front_end.stft, torch.device("cpu"), torch.float32)
        squared = self.window.pow(2)
        self.envelope = squared[self.hop :] + squared[: self.hop]
        self.cache = model.stream_cache()
        self.history = torch.zeros(0)
        """The last two hops of input (fewer at the start)."""
        self.hops = 0
        self.tail = None
        """The second half of the last processed frame's windowed inverse, waiting for its overlap."""

    def _frames(self, signal: torch.Tensor, starts: list[int]) -> torch.Tensor:
        """Windowed spectra of the frames of `signal` at `starts`: [1, frequency, frames, 2]."""
        frames = torch.stack([signal[start : start + 2 * self.hop] for start in starts]) * self.window
        return torch.view_as_real(torch.fft.rfft(frames, dim=-1)).permute(1, 0, 2)[None]

    @torch.inference_mode()
    def _emit(self, spectra: torch.Tensor) -> torch.Tensor:
        """Run the model on the next frames and overlap-add them; the samples they complete."""
        enhanced, self.cache = self.model.step(spectra, self.cache)
        frames = torch.fft.irfft(torch.view_as_complex(enhanced[0].contiguous()).T, n=2 * self.hop) * self.window
        pieces = []
        for frame in frames:
            if self.tail is not None:
                pieces.append((self.tail + frame[: self.hop]) / self.envelope)
            self.tail = frame[self.hop :]
        return torch.cat(pieces) if pieces else torch.zeros(0)

    def push(self, hop: np.ndarray | torch.Tensor) -> np.ndarray:
        """One hop of input -> one hop of output (zeros for the first, then the previous hop's)."""
        hop = torch.as_tensor(np.asarray(hop, dtype=np.float32)).reshape(-1)
        if hop.numel() != self.hop:
            raise ValueError(f"push takes exactly {self.hop} samples, got {hop.numel()}; finish takes the rest")
        self.history = torch.cat([self.history, hop])[-2 * self.hop :]
        self.hops += 1
        if self.hops == 1:
            return np.zeros(self.hop, dtype=np.float32)
        if self.hops == 2:  # frame 0: the centred STFT's reflection of samples 1..hop, then frame 1
            first = torch.cat([self.history[1 : self.hop + 1].flip(0), self.history[: self.hop]])
            spectra = torch.cat([self._frames(first, [0]), self._frames(self.history, [0])], dim=2)
        else:
            spectra = self._frames(self.history, [0])
        return self._emit(spectra).numpy()

    def finish(self, rest: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
        """The last partial hop (0 to hop - 1 samples) -> the remaining output, so that all the
        outputs after the first hop have the input's length."""
        rest = torch.zeros(0) if rest is None else torch.as_tensor(np.asarray(rest, dtype=np.float32)).reshape(-1)
        if rest.numel() >= self.hop:
            raise ValueError(f"finish takes fewer than {self.hop} samples; push whole hops first")
        if self.hops < 2:
            raise ValueError(f"too short to stream: at least {2 * self.hop} samples (one STFT window) needed")
        signal = torch.cat([self.history, rest])
        padding = -rest.numel() % self.hop
        if padding and self.front_end.end_padding == "reflect":
            signal = functional.pad(signal[None, None], (0, padding), mode="reflect")[0, 0]
        else:
            signal = functional.pad(signal, (0, padding))
        signal = functional.pad(signal[None, None], (0, self.hop), mode="reflect")[0, 0]
        starts = list(range(self.hop, signal.numel() - 2 * self.hop + 1, self.hop))
        output = self._emit(self._frames(signal, starts))
        return output[: output.numel() - padding].numpy()


def enhance_stream(waveform: np.ndarray | torch.Tensor, model: nn.Module) -> np.ndarray:
    """Stream a whole utterance hop by hop; the output, with the one-hop delay removed, has the
    input's length and equals the whole-utterance pass."""
    enhancer = StreamingEnhancer(model)
    samples = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(-1)
    whole = samples.numel() - samples.numel() % enhancer.hop
    pieces = [enhancer.push(samples[start : start + enhancer.hop]) for start in range(0, whole, enhancer.hop)]
    pieces.append(enhancer.finish(samples[whole:]))
    return np.concatenate(pieces)[enhancer.hop :]
