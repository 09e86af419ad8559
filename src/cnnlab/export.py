"""Export a model to ONNX or TorchScript and prove that the file computes what the model does.

A file that loads is not yet a file that is right: an exporter may freeze a shape, drop a branch
or pick a different kernel. So every export is followed by a parity check: the saved file is
loaded back (``onnxruntime`` on the CPU, or ``torch.jit.load``) and run on two random batches of
different sizes; its outputs must match the PyTorch model's. The second batch size proves that
the batch dimension was exported as dynamic. The file is written under a temporary name in the
destination folder and moved into place (``os.replace``) only after the check passes, so a
failed export or a failed check never leaves a partial or wrong file at the destination.

Exporter choice: ONNX uses the TorchScript-based exporter,
``torch.onnx.export(..., dynamo=False)`` with ``dynamic_axes`` on the batch dimension. The
``dynamo=True`` exporter (torch's default) needs the ``onnxscript`` package, which cnnlab does
not depend on; the TorchScript-based one needs only torch and handles every model of the zoo
(GoogLeNet's ceil-mode pools, the U-Net's crop and concat, TextCNN's int64 tokens). TorchScript uses
``torch.jit.trace``: ``torch.jit.script`` cannot compile GoogLeNet, and in eval mode the models
have no data-dependent branches that tracing would freeze. Torch marks both paths as deprecated;
those warnings are silenced during the export since the parity check, not the warning, tells
whether the file is right.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path
from cnnlab.models.info import model_info

Writer = Callable[[nn.Module, torch.Tensor, Path, int | None], None]
Runner = Callable[[Path, Sequence[torch.Tensor]], list[np.ndarray]]


@dataclass(frozen=True)
class ExportResult:
    """What was written and how well it matched the PyTorch model.

    Attributes:
        path: the exported file.
        format: ``"onnx"`` or ``"torchscript"``.
        input_size: one example's shape, without the batch dimension.
        dynamic_batch: True when the file ran on two batch sizes; None when not checked.
        max_abs_diff: largest ``|file - PyTorch|`` over the checked outputs; None when not checked.
        tolerance: the bound it was held to, ``atol + rtol * max|PyTorch output|``.
        batch_sizes: the batch sizes checked (empty when not checked).
        file_size: bytes on disk.
    """

    path: Path
    format: str
    input_size: tuple[int, ...]
    dynamic_batch: bool | None
    max_abs_diff: float | None
    tolerance: float | None
    batch_sizes: tuple[int, ...]
    file_size: int


def _write_onnx(model: nn.Module, example: torch.Tensor, file: Path, opset: int | None) -> None:
    torch.onnx.export(
        model,
        (example,),
        str(file),
        dynamo=False,
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )


def _write_torchscript(model: nn.Module, example: torch.Tensor, file: Path, _: int | None) -> None:
    # check_trace would rerun the model on the same batch; the parity check below is stricter.
    torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(file))


def _run_onnx(file: Path, batches: Sequence[torch.Tensor]) -> list[np.ndarray]:
    try:
        import onnxruntime
    except ImportError as error:
        raise CnnlabError(
            "checking an ONNX export needs onnxruntime, which is not installed. "
            "Received: check=True; run `pip install onnxruntime` or pass check=False"
        ) from error
    session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: batch.numpy()})[0] for batch in batches]


def _run_torchscript(file: Path, batches: Sequence[torch.Tensor]) -> list[np.ndarray]:
    loaded = torch.jit.load(str(file), map_location="cpu")
    with torch.no_grad():
        return [loaded(batch).numpy() for batch in batches]


_WRITERS: dict[str, Writer] = {"onnx": _write_onnx, "torchscript": _write_torchscript}
_RUNNERS: dict[str, Runner] = {"onnx": _run_onnx, "torchscript": _run_torchscript}


def _check_options(
    path: Path, format: str, batch_size: int, opset: int | None, atol: float, rtol: float
) -> None:
    if format not in _WRITERS:
        raise CnnlabError(
            f"unknown export format. Received: format={format!r}; use 'onnx' or 'torchscript'"
        )
    if opset is not None and format != "onnx":
        raise CnnlabError(f"opset applies to ONNX only. Received: opset={opset}; drop it")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise CnnlabError(
            f"batch_size must be an integer >= 1. Received: batch_size={batch_size!r}"
        )
    if atol < 0 or rtol < 0:
        raise CnnlabError(f"tolerances must be >= 0. Received: atol={atol}, rtol={rtol}")
    if not path.parent.is_dir():
        raise CnnlabError(
            f"no folder {str(path.parent)!r} to export into. Received: path={str(path)!r}; "
            "create the folder first"
        )


def _resolve_input_size(model: nn.Module, input_size: Sequence[int] | None) -> tuple[int, ...]:
    size = input_size if input_size is not None else model_info(model).input_size
    if size is None:
        raise CnnlabError(
            f"{type(model).__name__} has no input_size attribute. "
            "Received: input_size=None; pass input_size=(C, H, W) or (seq_len,)"
        )
    if not all(isinstance(side, int) and side >= 1 for side in size):
        raise CnnlabError(
            f"input_size must be positive integers without the batch dimension. "
            f"Received: input_size={size!r}; pass e.g. (3, 32, 32)"
        )
    return tuple(size)


def _random_batch(
    model: nn.Module, size: tuple[int, ...], dtype: torch.dtype, batch: int, seed: int
) -> torch.Tensor:
    """Random normal images, or token ids in ``[0, vocab)`` for models that embed integers."""
    generator = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(batch, *size, dtype=dtype, generator=generator)
    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embedding is None:
        raise CnnlabError(
            f"integer inputs need a model with an nn.Embedding to bound the token ids. "
            f"Received: input_dtype={dtype}; pass input_dtype=torch.float32"
        )
    high = embedding.num_embeddings
    return torch.randint(0, high, (batch, *size), dtype=dtype, generator=generator)


def _reference(model: nn.Module, batch: torch.Tensor) -> np.ndarray:
    try:
        with torch.no_grad():
            out = model(batch)
    except RuntimeError as error:
        raise CnnlabError(
            f"{type(model).__name__} cannot run on a {tuple(batch.shape)} {batch.dtype} batch "
            f"({str(error).splitlines()[0]}). Received: input_size={tuple(batch.shape[1:])}; "
            "pass the input size and dtype the model was built for"
        ) from error
    if not isinstance(out, torch.Tensor):
        raise CnnlabError(
            f"export needs a model that returns one tensor in eval mode. "
            f"Received: {type(out).__name__} from {type(model).__name__}; wrap it to return one"
        )
    return out.numpy()


def _max_abs_diff(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> float:
    for a, b in zip(got, expected, strict=True):
        if a.shape != b.shape:
            raise CnnlabError(
                f"the exported file returned shape {a.shape} where PyTorch returns {b.shape}. "
                f"Received: batch of {b.shape[0]}; the batch dimension did not export as dynamic"
            )
    return max(
        float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0))
        for a, b in zip(got, expected, strict=True)
    )


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's deprecation, tracer and constant-folding notes about the export paths."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding")  # strided slices stay ops
        yield


def _parity(
    format: str,
    file: Path,
    batches: Sequence[torch.Tensor],
    expected: Sequence[np.ndarray],
    atol: float,
    rtol: float,
) -> tuple[float, float]:
    """Largest difference between the file's outputs and PyTorch's, and the bound it met."""
    sizes = tuple(len(batch) for batch in batches)
    try:
        with _quiet():
            got = _RUNNERS[format](file, batches)
    except CnnlabError:
        raise
    except Exception as error:
        raise CnnlabError(
            f"the exported {format} file failed to run ({str(error).splitlines()[0]}). "
            f"Received: batches of {sizes}; try another opset or format"
        ) from error
    diff = _max_abs_diff(got, expected)
    scale = max(float(np.abs(e).max(initial=0.0)) for e in expected)
    tolerance = atol + rtol * scale
    if not diff <= tolerance:
        raise CnnlabError(
            f"the {format} export differs from PyTorch by up to {diff:.3g} on batches of {sizes} "
            f"(allowed {tolerance:.3g} for outputs up to {scale:.3g}); nothing was written. "
            f"Received: atol={atol}, rtol={rtol}; try another opset or format"
        )
    return diff, tolerance


def export_model(
    model: nn.Module,
    path: str | os.PathLike,
    format: str = "onnx",
    input_size: Sequence[int] | None = None,
    input_dtype: torch.dtype | None = None,
    batch_size: int = 2,
    opset: int | None = None,
    check: bool = True,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> ExportResult:
    """Export ``model`` with a dynamic batch dimension and check the file against PyTorch.

    The model runs in eval mode (dropout off, batch-norm running statistics, GoogLeNet without
    its auxiliary heads) and is put back in its previous mode afterwards. The check passes when
    ``max|file - PyTorch| <= atol + rtol * max|PyTorch|`` on batches of ``batch_size`` and
    ``batch_size + 1``: the relative term matters for untrained deep networks whose outputs
    reach 1e8, where float32 rounding alone exceeds any fixed ``atol``.

    Args:
        model: the network; its ``input_size`` and ``input_dtype`` attributes give the defaults.
        path: destination file; its folder must exist.
        format: ``"onnx"`` or ``"torchscript"``.
        input_size: one example's shape without the batch, ``(C, H, W)`` or ``(seq_len,)``.
        input_dtype: dtype of the input (``torch.float32``; ``torch.long`` for token ids).
        batch_size: batch used for the export; the check adds ``batch_size + 1``.
        opset: ONNX opset version (torch's default when None); ONNX only.
        check: run the parity check before moving the file into place.
        atol: absolute tolerance of the check.
        rtol: tolerance relative to the largest PyTorch output.

    Returns:
        An :class:`ExportResult`.

    Raises:
        CnnlabError: for an unknown format, a bad argument, an input the model cannot take,
            or a failed parity check (naming the largest difference); nothing is written then.

    Example:
        >>> result = export_model(create_model("lenet5"), "lenet5.onnx")  # doctest: +SKIP
        >>> result.batch_sizes, result.max_abs_diff <= result.tolerance  # doctest: +SKIP
        ((2, 3), True)
    """
    path = Path(path)
    _check_options(path, format, batch_size, opset, atol, rtol)
    size = _resolve_input_size(model, input_size)
    dtype = input_dtype or model_info(model).input_dtype
    if not isinstance(dtype, torch.dtype):
        raise CnnlabError(
            f"input_dtype must be a torch.dtype. Received: input_dtype={dtype!r}; e.g. torch.long"
        )
    sizes = (batch_size, batch_size + 1)
    was_training = model.training
    model.eval()
    try:
        batches = [_random_batch(model, size, dtype, n, seed) for seed, n in enumerate(sizes)]
        expected = [_reference(model, batch) for batch in batches]

        with atomic_path(path) as temporary:
            with _quiet():
                _WRITERS[format](model, batches[0], temporary, opset)
            no_check = (None, None)
            diff, tolerance = (
                _parity(format, temporary, batches, expected, atol, rtol) if check else no_check
            )
    finally:
        model.train(was_training)
    return ExportResult(
        path=path,
        format=format,
        input_size=size,
        dynamic_batch=True if check else None,
        max_abs_diff=diff,
        tolerance=tolerance,
        batch_sizes=sizes if check else (),
        file_size=path.stat().st_size,
    )
