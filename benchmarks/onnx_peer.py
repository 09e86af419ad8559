"""ONNX Runtime as an inference peer: what a user deploying a cnnlab model on a CPU would reach
for. The model is exported with cnnlab's own export (``cnnlab.export.export_model``: ONNX with
a dynamic batch, checked against PyTorch before it is kept) and run by ONNX Runtime's CPU
execution provider with torch's thread count (``intra_op_num_threads``; one inter-op thread,
sequential execution), at its default graph optimizations (all levels). Inputs are float32
in [0, 1], made once before timing, as for the textbook loop and Keras.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.export import export_model

PROVIDER = "CPUExecutionProvider"


def export_onnx(model: nn.Module, folder: Path, input_size: tuple[int, ...]) -> Path:
    """``model`` as ``folder/model.onnx`` (parity-checked by cnnlab's export)."""
    path = folder / "model.onnx"
    export_model(model, path, format="onnx", input_size=input_size)
    return path


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (default: torch's)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=[PROVIDER])


def onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def session_threads(session) -> int:
    return int(session.get_session_options().intra_op_num_threads)


def predict_classes(session, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The arg-max class of every sample (or pixel) of float32 ``inputs``, ``batch_size``
    samples per ``session.run``."""
    name = session.get_inputs()[0].name
    out = [
        session.run(None, {name: inputs[start : start + batch_size]})[0].argmax(1)
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(out)
