"""Fine-tuning from a torchvision-layout state dict on a generated 3-class image folder: the
head learns with the backbone frozen (weights and batch-norm statistics untouched), then the
backbone learns too, earlier stages at lower rates; the same from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnlab.cli.main import main
from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.train import Callback
from cnnlab.train.finetune import discriminative_rates, fine_tune
from torchvision_layouts import IMAGENET_MEAN, layout, random_state

# Each class has its colour and its shape; 30 images of each, 32x32.
CLASSES = {"discs": (220, 60, 60), "hstripes": (60, 200, 60), "vstripes": (60, 60, 220)}
SIZE, PER_CLASS, FROZEN, UNFROZEN, LR = 32, 30, 3, 2, 3e-3


def draw(kind: str, colour: tuple[int, ...], rng: np.random.Generator) -> Image.Image:
    ink = tuple(int(np.clip(c + rng.integers(-40, 40), 0, 255)) for c in colour)
    image = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(0, 60, 3)))
    pen = ImageDraw.Draw(image)
    if kind == "discs":
        r = int(rng.integers(SIZE // 5, SIZE // 3))
        x, y = (int(v) for v in rng.integers(r, SIZE - r, 2))
        pen.ellipse([x - r, y - r, x + r, y + r], fill=ink)
        return image
    width = int(rng.integers(2, 5))
    for k in range(int(rng.integers(0, 2 * width)), SIZE, 2 * width):
        box = [0, k, SIZE, k + width - 1] if kind == "hstripes" else [k, 0, k + width - 1, SIZE]
        pen.rectangle(box, fill=ink)
    return image


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for kind, colour in CLASSES.items():
        (root / kind).mkdir()
        for i in range(PER_CLASS):
            draw(kind, colour, rng).save(root / kind / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A ResNet-18 checkpoint in torchvision's layout, written from its architecture."""
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(random_state(layout("resnet18"), seed=1), path)
    return path


class AtUnfreezing(Callback):
    """The model's state when the backbone is unfrozen (the end of the frozen phase)."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.state = epoch, {}

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        if epoch == self.epoch:
            self.state = {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_frozen_then_unfrozen_with_lower_rates_for_earlier_stages(folder, weights):
    torch.manual_seed(0)
    model = create_model("resnet18", weights=weights, num_classes=3, image_size=SIZE)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    backbone = [k for k in before if not k.startswith("head.")]
    spy = AtUnfreezing(FROZEN)
    result = fine_tune(
        model,
        load("image-folder", "train", path=str(folder)),
        validation_split=0.3,
        epochs_frozen=FROZEN,
        epochs=UNFROZEN,
        lr=LR,
        callbacks=[spy],
        batch_size=16,
        precision="fp32",
        verbose=0,
    )
    frozen, unfrozen = result.frozen.rows, result.unfrozen.rows
    assert (len(frozen), len(unfrozen)) == (FROZEN, UNFROZEN)
    # Frozen: weights and batch-norm statistics untouched, the new head learned (chance: 1/3).
    assert all(torch.equal(spy.state[k], before[k]) for k in backbone)
    assert not torch.equal(spy.state["head.2.weight"], before["head.2.weight"])
    assert frozen[-1]["val_accuracy"] >= 0.7, frozen
    # Unfrozen: every stage moved, and the result is still learned.
    after = model.state_dict()
    for group in ("stem.", "stages.0.", "stages.1.", "stages.2.", "stages.3."):
        keys = [k for k in backbone if k.startswith(group)]
        assert any(not torch.equal(after[k], spy.state[k]) for k in keys), group
    assert unfrozen[-1]["val_accuracy"] >= 0.7, unfrozen
    # One rate per group, lr / 100 at the stem rising geometrically to lr at the head.
    groups = {g["name"]: g["lr"] for g in result.trainer.optimizer.param_groups}
    order = ["stem", "stages.0", "stages.1", "stages.2", "stages.3", "head"]
    assert sorted(groups, key=order.index) == order
    rates = [groups[name] for name in order]
    assert rates == pytest.approx([LR / 100 * 100 ** (i / 5) for i in range(6)])
    assert rates == sorted(rates) and result.history.rows[-1]["lr"] == LR  # lr: the head's
    assert all(p.requires_grad for p in model.parameters())  # trainable again afterwards
    assert result.trainer.input_spec.mean == IMAGENET_MEAN  # the weights' normalisation


def test_rates_and_arguments_are_checked():
    assert discriminative_rates(1.0, 100, 3) == pytest.approx([0.01, 0.1, 1.0])
    model = create_model("resnet18", num_classes=3, image_size=SIZE)
    x, y = torch.zeros(4, 3, SIZE, SIZE, dtype=torch.uint8), torch.tensor([0, 1, 2, 0])
    for kwargs, message in [
        ({"epochs_frozen": 0, "epochs": 0}, "at least one epoch"),
        ({"lr_ratio": 0.5}, r"lr_ratio must be a number >= 1. Received: lr_ratio=0.5"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam, adamw"),
    ]:
        with pytest.raises(CnnlabError, match=message):
            fine_tune(model, x, y, verbose=0, **kwargs)
    with pytest.raises(CnnlabError, match="does not declare layer_groups"):
        fine_tune(create_model("lenet5"), x, y, verbose=0)


def test_a_new_head_for_the_data_classes():
    model = create_model("googlenet", variant="torchvision", num_classes=1000, image_size=SIZE)
    x = torch.randint(0, 256, (6, 3, SIZE, SIZE), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    result = fine_tune(model, x, y, num_classes=4, epochs_frozen=1, epochs=0, verbose=0)
    assert model.head[-1].out_features == model.aux["inception4d"][-1].out_features == 4
    assert model.build_kwargs["num_classes"] == 4
    assert result.unfrozen.rows == [] and len(result.frozen.rows) == 1


def test_the_command_line_writes_a_run_that_evaluate_and_predict_read(
    folder, weights, tmp_path, capsys
):
    out = tmp_path / "runs"
    args = ["fine-tune", "resnet18", "--weights", str(weights), "--dataset", "image-folder"]
    args += ["-o", f"path={folder}", "-o", f"size={SIZE}x{SIZE}", "--epochs-frozen", "1"]
    args += ["--epochs", "1", "--lr", str(LR), "--batch-size", "16", "--precision", "fp32"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "classifier new for 3 classes (discs, hstripes, vstripes)" in printed
    assert "frozen backbone, 1 epoch: val_accuracy" in printed
    assert "unfrozen (lr 3e-05 stem .. 0.003 head), 1 epoch: val_accuracy" in printed
    (run,) = out.iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["run"]["model_kwargs"] == {"num_classes": 3, "image_size": SIZE}
    assert config["input_spec"]["mean"] == list(IMAGENET_MEAN)
    assert config["train"]["epochs"] == 2
    assert main(["evaluate", str(run)]) == 0
    assert main(["predict", str(run), str(folder / "vstripes" / "00.png")]) == 0
    shown = capsys.readouterr().out
    assert "held out (0.2, stratified)" in shown and "00.png: " in shown
    before = (run / "config.json").read_bytes()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 2
    error = capsys.readouterr().err
    assert "which --resume cannot rebuild; run the fine-tune again" in error
    assert error.count("\n") == 1 and (run / "config.json").read_bytes() == before


def test_the_command_line_refuses_in_one_line(folder, tmp_path, capsys):
    args = ["fine-tune", "resnet18", "--dataset", "image-folder", "-o", f"path={folder}"]
    assert main([*args, "--weights", str(tmp_path / "none.pth"), "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: weights must be a .pth file") and error.count("\n") == 1
    assert not any(tmp_path.iterdir())  # no run directory
