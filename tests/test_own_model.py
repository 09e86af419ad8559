"""Your own model, as first class as the zoo: a class in a module outside cnnlab, trained
from the command line and from Python on every kind of data, then evaluated, predicted,
exported, drawn, summarized, opened in the studio and resumed, from its run alone."""

import io
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

import cnnlab
from cnnlab.cli.main import main
from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.runs import RunRecorder
from cnnlab.studio import create_app
from cnnlab.train import Trainer, seed_everything

pytestmark = pytest.mark.slow

MODULE = '''
"""A user's own models: nothing cnnlab-specific in them."""
from torch import nn


class SmallNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, width=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * 4 * 4, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def small_net(width=8):
    return SmallNet(width=width)
'''


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory) -> Path:
    """A folder holding ``ownmodels.py``, importable only through cnnlab's own means."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "ownmodels.py").write_text(textwrap.dedent(MODULE))
    return folder


def forget_module(folder: Path) -> None:
    """As a new process would start: the module not imported, its folder not on the path."""
    sys.modules.pop("ownmodels", None)
    while str(folder) in sys.path:
        sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def cli_run(module_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(module_dir)
        args = ["train", "ownmodels:SmallNet", "-m", "width=12", "--dataset", "digits"]
        assert main([*args, "--epochs", "3", "--lr", "0.003", "--quiet", "--out", str(out)]) == 0
    forget_module(module_dir)
    (run,) = out.iterdir()
    return run


def digit_png(path: Path) -> Path:
    """A '1': a light vertical bar on a dark 40 x 40 canvas."""
    canvas = np.zeros((40, 40), dtype=np.uint8)
    canvas[4:-4, 17:23] = 255
    Image.fromarray(canvas).save(path)
    return path


def test_the_run_records_how_to_rebuild_the_model(cli_run, module_dir):
    run = json.loads((cli_run / "config.json").read_text())["run"]
    assert run["model"] == "ownmodels:SmallNet" and run["model_folder"] == str(module_dir)
    assert run["model_kwargs"] == {"width": 12, "in_channels": 1, "num_classes": 10}
    assert cli_run.name.startswith("SmallNet-digits-")


def test_every_command_works_on_the_run_from_another_folder(cli_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(cli_run)]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["predict", str(cli_run), str(digit_png(tmp_path / "one.png"))]) == 0
    assert "one.png:" in capsys.readouterr().out
    assert main(["export", str(cli_run), "--out", str(tmp_path / "net.onnx")]) == 0
    assert "parity" in capsys.readouterr().out
    assert main(["diagram", str(cli_run), "--out", str(tmp_path / "net.svg")]) == 0
    assert "<svg" in (tmp_path / "net.svg").read_text() and "wrote" in capsys.readouterr().out
    assert main(["summary", str(cli_run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_params"] == sum(
        p.numel() for p in cnnlab.load_run(cli_run).model.parameters()
    )


def test_summary_and_diagram_take_an_import_path(module_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(module_dir)
    assert main(["summary", "ownmodels:SmallNet", "-m", "width=4", "--input", "1x8x8"]) == 0
    conv, dense = (9 + 1) * 4, (4 * 4 * 4 + 1) * 10
    assert f"Total params: {conv + dense:,}" in capsys.readouterr().out
    out = str(tmp_path / "d.svg")
    assert main(["diagram", "ownmodels:small_net", "--input", "1x8x8", "--out", out]) == 0
    forget_module(module_dir)


def test_the_studio_predicts_and_shows_filters(cli_run):
    client = TestClient(create_app(cli_run.parent), base_url="http://127.0.0.1")
    (entry,) = client.get("/api/runs").json()["runs"]
    assert entry["predictable"] is True
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(buffer, format="PNG")
    files = {"image": ("x.png", buffer.getvalue())}
    response = client.post(f"/api/runs/{entry['id']}/predict?maps=1", files=files)
    assert response.status_code == 200, response.text
    assert len(response.json()["probabilities"]) == 10
    filters = client.get(f"/api/runs/{entry['id']}/filters")
    assert filters.status_code == 200 and filters.json()["layers"][0]["filters"]


def test_resume_trains_on_from_the_run(cli_run, tmp_path, capsys, monkeypatch):
    config = json.loads((cli_run / "config.json").read_text())
    config["train"]["epochs"] = 4
    (cli_run / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", str(cli_run), "--quiet"]) == 0
    assert "epoch 4/4" in capsys.readouterr().out


class Digits(TorchDataset):
    def __init__(self, split: str) -> None:
        data = load("digits", split)
        self.images, self.labels = data.images, data.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    data = load("digits", split)
    return data.images.numpy(), data.labels.numpy()


def channels_last(split: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = arrays(split)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y


DATA = {
    "numpy N x C x H x W": (lambda: arrays("train"), lambda: arrays("test"), {}),
    "numpy N x H x W x C": (
        lambda: channels_last("train"),
        lambda: channels_last("test"),
        {"data_format": "channels_last"},
    ),
    "torch Dataset": (lambda: Digits("train"), lambda: Digits("test"), {}),
    "DataLoader": (
        lambda: DataLoader(Digits("train"), batch_size=32, shuffle=True),
        lambda: DataLoader(Digits("test"), batch_size=256),
        {},
    ),
}


@pytest.mark.parametrize("kind", list(DATA))
def test_python_api_on_every_kind_of_data(kind, module_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(module_dir))
    from ownmodels import SmallNet

    train, validation, options = DATA[kind]
    seed_everything(0)
    trainer = Trainer(
        SmallNet(), epochs=4, lr=3e-3, verbose=0, callbacks=[RunRecorder(tmp_path)], **options
    )
    history = trainer.fit(train(), validation())
    assert history.rows[-1]["val_accuracy"] > 0.8, kind
    run = cnnlab.load_run(tmp_path)  # rebuilt from the recorded class, no arguments
    assert type(run.model).__name__ == "SmallNet"
    x, y = arrays("test")
    logits = run.model(run.input_spec.apply(torch.from_numpy(x)))
    assert (logits.argmax(1).numpy() == y).mean() > 0.8
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["data"]["exact_resume"] is (kind != "DataLoader")
    forget_module(module_dir)


def test_a_model_from_a_script_is_loaded_into_your_instance(tmp_path):
    class Local(torch.nn.Module):  # defined in a function: no process can import it
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))

        def forward(self, x):
            return self.net(x)

    x, y = arrays("train")
    Trainer(Local(), epochs=1, verbose=0, callbacks=[RunRecorder(tmp_path)]).fit(x, y)
    with pytest.raises(CnnlabError, match=r"load_run\(run_dir, model=YourModel") as info:
        cnnlab.load_run(tmp_path)
    assert "\n" not in str(info.value)
    assert type(cnnlab.load_run(tmp_path, model=Local()).model).__name__ == "Local"


def test_image_folder_of_mixed_modes_and_sizes(module_dir, tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    for label, value in (("dark", 40), ("light", 215)):
        for i in range(24):
            size = (int(rng.integers(10, 30)), int(rng.integers(10, 30)))
            pixels = np.clip(rng.normal(value, 20, size[::-1]), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            image = image.convert(("L", "RGB", "P")[i % 3])
            (tmp_path / "images" / label).mkdir(parents=True, exist_ok=True)
            image.save(tmp_path / "images" / label / f"{i}.png")
    monkeypatch.chdir(module_dir)
    args = ["train", "ownmodels:SmallNet", "--dataset", "image-folder"]
    options = ["--option", f"path={tmp_path / 'images'}", "--option", "size=8x8"]
    settings = ["--validation-split", "0.25", "--epochs", "8", "--lr", "0.01", "--quiet"]
    code = main([*args, *options, *settings, "--out", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    final = next(line for line in captured.out.splitlines() if line.startswith("final:"))
    assert float(final.split("val_accuracy ")[1].split()[0]) > 0.9, final
    assert "warning" not in captured.err  # the stratified split keeps both classes
    forget_module(module_dir)


def test_mistakes_with_your_model_are_one_line(module_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(module_dir)
    cases = [
        (["ownmodels:SmallNet", "-m", "widht=3"], "did you mean 'width'"),
        (["ownmodels:BigNet"], "ownmodels has no 'BigNet'"),
        (["notamodule:Net"], "cannot import 'notamodule'"),
        (["lenet"], "did you mean 'lenet5'"),
        (["ownmodels:SmallNet", "-m", "num_classes=5"], "out of range for a model with 5 outputs"),
        (["unet"], "unet is a segmentation model but digits is classification data"),
        (["ownmodels:SmallNet", "--epochs", "2", "--optimizer", "rmsprop"], "'rmsprop' is not one"),
    ]
    for args, message in cases:
        code = main(["train", *args, "--dataset", "digits", "--out", str(tmp_path / "runs")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()
    forget_module(module_dir)
