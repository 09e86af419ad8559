"""Training recipes: declared in the data set's card, applied by cnnlab train piece by piece,
overridden by flags, recorded in config.json; --recipe plain is the textbook settings."""

import csv
import json
import os
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from cnnlab.cli.main import main
from cnnlab.data import dataset_info
from cnnlab.data.augment import random_shift
from cnnlab.data.recipes import DIGITS, NATURAL_IMAGES, PLAIN, Recipe, recipe_names
from cnnlab.errors import CnnlabError
from cnnlab.runs import TrainJob, apply_recipe
from cnnlab.train import TrainConfig
from cnnlab.train.augmentation import augmentation_names

ROOT = Path(os.environ["CNNLAB_DATA_DIR"]) if os.environ.get("CNNLAB_DATA_DIR") else None
SMALL = ["--train-split", "train[:256]", "--val-split", "test[:64]", "--quiet"]
PIECES = [f.name for f in fields(Recipe) if f.name not in ("name", "description")]


def _train(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / str(len(list(tmp_path.iterdir())))
    assert main(["train", "lenet5", "--dataset", "digits", *SMALL, *args, "--out", str(out)]) == 0
    (run,) = list(out.iterdir())
    return json.loads((run / "config.json").read_text()) | {"dir": str(run)}


def test_the_cards_declare_recipes_by_task():
    assert dataset_info("mnist").recipe is DIGITS and DIGITS.augment == "shift"
    assert dataset_info("cifar10").recipe is NATURAL_IMAGES
    assert NATURAL_IMAGES.augment == "flip-crop"
    assert dataset_info("sms-spam").recipe is None  # text: plain, no augmentation
    for name in recipe_names():
        recipe = apply_recipe(TrainJob("lenet5", "mnist"), name)  # every value is a valid setting
        assert recipe.augment in augmentation_names()


def test_plain_is_exactly_the_textbook_defaults():
    defaults = TrainConfig()
    assert {k: getattr(defaults, k) for k in PLAIN.settings()} == PLAIN.settings()
    assert PLAIN.augment == TrainJob("lenet5", "mnist").augment == "none"
    job = apply_recipe(TrainJob("lenet5", "mnist"), "plain")
    assert job.train == defaults and job.recipe == "plain"


def test_auto_is_the_cards_recipe_and_kept_pieces_stay():
    job = apply_recipe(TrainJob("lenet5", "mnist"))
    assert job.recipe == "digits" and job.augment == "shift"
    for piece, value in DIGITS.settings().items():
        assert getattr(job.train, piece) == value
    mine = TrainJob("lenet5", "mnist", augment="none", train=TrainConfig(lr=0.01, epochs=2))
    kept = apply_recipe(mine, keep=["lr", "augment"])
    assert kept.train.lr == 0.01 and kept.augment == "none"
    assert kept.train.epochs == DIGITS.epochs and kept.train.optimizer == "adamw"
    with pytest.raises(CnnlabError, match="recipe"):
        apply_recipe(mine, "no-such-recipe")


def test_cnnlab_train_records_each_piece_and_flags_override(tmp_path):
    config = _train(tmp_path, "--recipe", "digits", "--epochs", "1", "--optimizer", "sgd")
    train, run = config["train"], config["run"]
    assert run["recipe"] == "digits" and run["augment"] == "shift"
    assert train["epochs"] == 1 and train["optimizer"] == "sgd"  # the flags
    for piece in ("lr", "weight_decay", "schedule", "label_smoothing", "batch_size"):
        assert train[piece] == getattr(DIGITS, piece), piece
    config = _train(tmp_path, "--recipe", "digits", "--epochs", "1", "--augment", "none")
    assert config["run"]["augment"] == "none" and config["train"]["schedule"] == "one-cycle"


def test_recipe_plain_gives_todays_settings_exactly(tmp_path):
    plain = _train(tmp_path, "--recipe", "plain")
    card = _train(tmp_path)  # the digits card declares no recipe: auto is plain there
    assert plain["train"] == card["train"] == TrainConfig().to_json()
    assert plain["run"]["augment"] == "none" and plain["run"]["recipe"] == "plain"


def test_a_recipe_run_resumes_with_its_recorded_settings(tmp_path):
    config = _train(tmp_path, "--recipe", "digits", "--epochs", "1", "--schedule", "step")
    run = config["dir"]
    assert main(["train", "--resume", run, "--epochs", "2", "--quiet"]) == 0
    resumed = json.loads((Path(run) / "config.json").read_text())
    assert resumed["train"] == {**config["train"], "epochs": 2}
    assert resumed["run"]["augment"] == "shift" and resumed["run"]["recipe"] == "digits"
    assert main(["train", "--resume", run, "--recipe", "plain"]) == 2  # a resume keeps its own


def test_random_shift_moves_whole_pixels_and_masks_alike():
    images = torch.arange(2 * 36, dtype=torch.float32).view(2, 1, 6, 6)
    masks = images[:, 0].long()
    generator = torch.Generator().manual_seed(3)
    shifted, moved = random_shift(images, masks, pixels=2, flip=0.5, generator=generator)
    assert torch.equal(shifted[:, 0].long(), moved)  # the same crop and mirror
    for original, out in zip(images[:, 0], shifted[:, 0], strict=True):
        kept = out[out > 0]
        assert set(kept.tolist()) <= set(original.flatten().tolist())  # moved, none invented
    assert torch.equal(random_shift(images, pixels=0), images)


def _mnist_history(tmp_path: Path, *args: str) -> tuple[dict, list[dict]]:
    """Train on real MNIST digits; the run's config and history rows."""
    if ROOT is None:
        pytest.skip("CNNLAB_DATA_DIR is not set (real MNIST)")
    if not (ROOT / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"no MNIST in {ROOT}")
    command = ["train", *args, "--dataset", "mnist", "--val-split", "test[8000:]", "--quiet"]
    assert main([*command, "--out", str(tmp_path)]) == 0
    (run,) = list(tmp_path.iterdir())
    with open(run / "history.csv") as file:
        return json.loads((run / "config.json").read_text()), list(csv.DictReader(file))


def test_the_default_recipe_learns_real_digits(tmp_path):
    # No recipe flag: the mnist card's recipe (digits), cut to 3 of its 30 epochs.
    config, rows = _mnist_history(
        tmp_path, "mnist-cnn", "--train-split", "test[:8000]", "--epochs", "3"
    )
    assert config["run"]["recipe"] == "digits" and config["train"]["schedule"] == "one-cycle"
    assert float(rows[-1]["val_accuracy"]) >= 0.98  # 98.75% measured
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])


def test_the_fast_recipe_learns_real_digits(tmp_path):
    args = ["fastcnn", "--train-split", "test[:4000]", "--recipe", "digits-fast"]
    _, rows = _mnist_history(tmp_path, *args)
    assert float(rows[-1]["val_accuracy"]) >= 0.97  # 2 epochs of 4,000 digits
