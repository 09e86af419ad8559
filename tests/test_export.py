"""Export every model to ONNX (and a few to TorchScript) and hold the files to PyTorch's output."""

from __future__ import annotations

import copy

import numpy as np
import onnxruntime
import pytest
import torch

from cnnlab import export
from cnnlab.errors import CnnlabError
from cnnlab.export import export_model
from cnnlab.models import create_model, list_models

# Small canonical inputs and widths so that the whole zoo exports in well under a minute.
ARGS: dict[str, dict] = {
    "googlenet": dict(num_classes=7, image_size=64),
    "inception-block": dict(in_channels=16, image_size=8),
    "lenet5": {},
    "mlp": {},
    "mnist-cnn": {},
    "resnet18": dict(image_size=64),
    "resnet34": dict(image_size=64),
    "resnet50": dict(image_size=64),
    "textcnn": dict(vocab_size=50, embed_dim=16, seq_len=12, filters=8),
    "unet": dict(base_width=8, image_size=188),
}
CIFAR_ARGS = dict(image_size=16)


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, **ARGS.get(name, CIFAR_ARGS))


def _batch(model: torch.nn.Module, size: int) -> torch.Tensor:
    if getattr(model, "input_dtype", torch.float32) == torch.long:
        return torch.randint(0, model.embedding.num_embeddings, (size, *model.input_size))
    return torch.randn(size, *model.input_size)


def _expected(model: torch.nn.Module, batch: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(batch).numpy()


@pytest.mark.parametrize("name", list_models())
def test_onnx_matches_pytorch_at_two_batch_sizes(name, tmp_path):
    model = _model(name)
    path = tmp_path / f"{name}.onnx"
    result = export_model(model, path, "onnx")
    assert model.training  # the caller's mode is restored
    assert result.path == path and path.stat().st_size == result.file_size > 0
    assert result.input_size == model.input_size
    assert result.batch_sizes == (2, 3) and result.dynamic_batch
    assert result.max_abs_diff <= result.tolerance
    # An independent run at a third batch size, outside export_model.
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a symbolic batch dimension
    batch = _batch(model, 4)
    expected = _expected(model, batch)
    got = session.run(None, {"input": batch.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=result.tolerance, rtol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", ["lenet5", "resnet20", "unet", "googlenet"])
def test_torchscript_matches_pytorch_at_two_batch_sizes(name, tmp_path):
    model = _model(name)
    path = tmp_path / f"{name}.pt"
    result = export_model(model, path, "torchscript")
    assert result.batch_sizes == (2, 3) and result.dynamic_batch
    assert result.max_abs_diff <= result.tolerance
    batch = _batch(model, 1)
    with torch.no_grad():
        got = torch.jit.load(str(path))(batch).numpy()
    np.testing.assert_allclose(got, _expected(model, batch), atol=result.tolerance, rtol=0)


def test_token_model_gets_integer_ids_within_the_vocabulary(tmp_path):
    model = _model("textcnn")
    result = export_model(model, tmp_path / "textcnn.onnx")
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(int64)"


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_export_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch, existing):
    path = tmp_path / "model.onnx"
    if existing:
        path.write_bytes(b"older export")

    def half_written(model, example, file, opset):
        file.write_bytes(b"partial")
        raise RuntimeError("exporter crashed midway")

    monkeypatch.setitem(export._WRITERS, "onnx", half_written)
    with pytest.raises(RuntimeError, match="midway"):
        export_model(_model("lenet5"), path)
    remaining = [p.name for p in tmp_path.iterdir()]
    assert remaining == (["model.onnx"] if existing else [])
    if existing:
        assert path.read_bytes() == b"older export"


def test_a_parity_failure_is_reported_and_nothing_is_written(tmp_path, monkeypatch):
    model = _model("lenet5")
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.get_parameter(next(n for n, _ in other.named_parameters())).add_(1.0)
    write_onnx = export._WRITERS["onnx"]

    def wrong_model(model, example, file, opset):
        write_onnx(other, example, file, opset)

    monkeypatch.setitem(export._WRITERS, "onnx", wrong_model)
    with pytest.raises(CnnlabError, match=r"differs from PyTorch by up to \d"):
        export_model(model, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []
    assert model.training


def test_without_check_nothing_is_compared(tmp_path):
    result = export_model(_model("lenet5"), tmp_path / "lenet5.pt", "torchscript", check=False)
    assert result.max_abs_diff is None and result.dynamic_batch is None
    assert result.batch_sizes == () and result.file_size > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(format="tflite"), r"Received: format='tflite'; use 'onnx' or 'torchscript'$"),
        (dict(format="torchscript", opset=17), "opset applies to ONNX only"),
        (dict(batch_size=0), r"Received: batch_size=0$"),
        (dict(atol=-1.0), "tolerances must be >= 0"),
        (dict(input_size=(3, 32, 32)), r"cannot run on a \(2, 3, 32, 32\)"),
        (dict(input_size=(1, 0, 32)), r"Received: input_size=\(1, 0, 32\)"),
        (dict(input_dtype=torch.long), "Received: input_dtype=torch.int64"),
    ],
)
def test_bad_arguments_are_cnnlab_errors(tmp_path, kwargs, message):
    with pytest.raises(CnnlabError, match=message):
        export_model(_model("lenet5"), tmp_path / "model.onnx", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_cnnlab_error(tmp_path):
    with pytest.raises(CnnlabError, match=r"create the folder first$"):
        export_model(_model("lenet5"), tmp_path / "nowhere" / "model.onnx")
