"""Run an exported network in onnxruntime, in place of the torch network inside `imse.enhance`.

`OnnxRuntimeNetwork` is called like the torch network (front-end features in, the outputs that
synthesis takes out) and carries the model's config, so `imse.enhance` runs it with the same
front end, segmenting and bad-input handling: only the network call changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from imse.enhance import EnhancementError
from imse.export import TIME_AXIS, require_onnx, unpacked
from imse.loading import LoadedModel


class OnnxRuntimeNetwork:
    """An onnxruntime session over an exported file, with the torch model's config."""

    def __init__(self, path: str | os.PathLike, config: object, threads: int | None = None) -> None:
        require_onnx()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.path = Path(path)
        self.config = config
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [node.name for node in self.session.get_inputs()]  # in analyse's order
        self.output_names = [node.name for node in self.session.get_outputs()]  # in synthesise's order
        self.frames = self.session.get_inputs()[0].shape[TIME_AXIS]
        """The graph's frame count, or a name (a str) if it takes any."""

    def __call__(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...] | torch.Tensor:
        frames = features[0].shape[TIME_AXIS]
        if isinstance(self.frames, int) and frames != self.frames:
            raise EnhancementError(f"{self.path}: the exported graph takes {self.frames} frames (one segment), "
                                   f"not {frames}; use mode 'segmented' (--mode segmented)")
        arrays = (np.ascontiguousarray(feature.numpy()) for feature in features)
        feed = dict(zip(self.input_names, arrays, strict=True))
        return unpacked(tuple(torch.from_numpy(output) for output in self.session.run(self.output_names, feed)))


def onnxruntime_network(loaded: LoadedModel, threads: int | None = None,
                        cache_dir: str | os.PathLike | None = None) -> OnnxRuntimeNetwork:
    """The loaded checkpoint's network in onnxruntime, exported into the cache on first use."""
    from imse.export import cached_export

    return OnnxRuntimeNetwork(cached_export(loaded, cache_dir), loaded.model.config, threads)
