"""Your own data, as PyTorch and Keras users hold it: NumPy arrays in either layout, x and y
apart, torch map-style datasets (PIL images included), DataLoaders; and the one-line
refusals for labels and layouts that would otherwise fail deep inside a step."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from cnnlab.data import load
from cnnlab.errors import CnnlabError, CnnlabWarning
from cnnlab.train import Trainer, fit, seed_everything
from cnnlab.train.data import as_samples, split_validation


class TinyNet(nn.Module):
    """A model of the user's own for 8 x 8 images: no input_size, no registry name."""

    def __init__(self, channels: int = 1, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, classes))

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def digits():
    train, test = load("digits", "train"), load("digits", "test")
    return train.images.numpy(), train.labels.numpy(), test.images.numpy(), test.labels.numpy()


def quiet(**settings) -> dict:
    return {"epochs": 3, "batch_size": 32, "lr": 3e-3, "verbose": 0, **settings}


def test_numpy_arrays_keras_signature(digits):
    x, y, xv, yv = digits
    seed_everything(0)
    model = TinyNet()
    history = fit(model, x, y, validation_data=(xv, yv), **quiet(epochs=6))
    assert history.rows[-1]["val_accuracy"] > 0.6


def test_channels_last_needs_the_flag_and_learns_with_it(digits):
    x, y, xv, yv = digits
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1).repeat(3, axis=3))  # N x 8 x 8 x 3
    with pytest.raises(CnnlabError, match="data_format='channels_last'") as info:
        fit(TinyNet(3), nhwc, y, **quiet())
    assert "\n" not in str(info.value)
    seed_everything(0)
    trainer = Trainer(TinyNet(3), data_format="channels_last", **quiet(epochs=6))
    trainer.fit(nhwc, y)
    val = np.ascontiguousarray(xv.transpose(0, 2, 3, 1).repeat(3, axis=3))
    assert trainer.evaluate(val, yv)["accuracy"] > 0.6
    assert trainer.predict(val[:5]).classes.shape == (5,)


def test_n_h_w_images_get_a_channel_and_the_size_is_inferred(digits):
    x, y, _, _ = digits
    trainer = Trainer(TinyNet(), **quiet(epochs=1))
    trainer.fit(x[:, 0], y)  # N x 8 x 8
    assert trainer.input_spec.channels == 1 and trainer.input_spec.size == (8, 8)


class PilDigits(TorchDataset):
    """A map-style dataset of PIL images and int labels, as torchvision datasets are."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return Image.fromarray(self.images[i, 0]), int(self.labels[i])


def test_a_torch_dataset_of_pil_images(digits):
    x, y, xv, yv = digits
    seed_everything(0)
    trainer = Trainer(TinyNet(), **quiet(epochs=6))
    history = trainer.fit(PilDigits(x, y), PilDigits(xv, yv))
    assert history.rows[-1]["val_accuracy"] > 0.6
    assert trainer.data_source == {
        "train": "torch Dataset PilDigits",
        "data_path": "in-memory",
        "exact_resume": True,
    }


def test_a_dataloader_is_used_as_given(digits):
    x, y, xv, yv = digits
    seed_everything(0)
    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = DataLoader(data, batch_size=32, shuffle=True)
    validation = DataLoader(PilDigits(xv, yv), batch_size=100, collate_fn=_pil_collate)
    trainer = Trainer(TinyNet(), **quiet(epochs=6))
    history = trainer.fit(loader, validation)
    assert history.rows[-1]["val_accuracy"] > 0.6
    assert trainer.num_train_samples == len(x) and trainer.data_source["exact_resume"] is False
    assert trainer.predict(loader).probabilities.shape == (len(x), 10)


def _pil_collate(items):
    images = torch.stack([torch.from_numpy(np.array(image))[None] for image, _ in items])
    return images, torch.tensor([label for _, label in items])


def test_one_hot_targets_become_class_ids(digits):
    x, y, _, _ = digits
    one_hot = np.eye(10, dtype=np.float32)[y]
    samples = as_samples((x, one_hot))
    assert torch.equal(samples.targets, torch.from_numpy(y))


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (np.full((4, 3), 1 / 3, dtype=np.float32), "look like class probabilities"),
        (np.array([0.0, 1.0, float("nan"), 2.0]), "targets hold nan at sample 2"),
        (np.array([0.0, 1.5, 1.0, 2.0]), "whole class ids. Received: 1.5 at sample 1"),
        (np.array([0, 1, -1, 2]), "must be >= 0. Received: -1 at sample 2"),
        (np.array(["cat", "dog", "cat", "dog"]), "np.unique(y, return_inverse=True)"),
        (np.array([0, 1, 2]), "4 inputs, 3 targets"),
    ],
)
def test_bad_targets_are_one_line(targets, message):
    with pytest.raises(CnnlabError) as info:
        fit(TinyNet(), np.zeros((4, 1, 8, 8), np.float32), targets, **quiet(epochs=1))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_class_ids_beyond_the_model_are_named(digits):
    x, y, _, _ = digits
    with pytest.raises(
        CnnlabError, match=r"class id \d \(sample \d+\) .* 5 outputs.*num_classes=10"
    ):
        fit(TinyNet(classes=5), x, y, **quiet(epochs=1))


def test_task_mismatch_is_caught_before_training(digits):
    x, _, _, _ = digits
    masks = np.zeros((len(x), 8, 8), dtype=np.int64)
    with pytest.raises(CnnlabError, match="targets are masks"):
        fit(TinyNet(), x, masks, **quiet(epochs=1))


def test_unknown_containers_say_what_is_accepted():
    with pytest.raises(CnnlabError, match="Received: dict"):
        fit(TinyNet(), {"x": 1}, **quiet(epochs=1))
    with pytest.raises(CnnlabError, match="data_format must be"):
        Trainer(TinyNet(), data_format="NHWC")


def test_validation_split_is_stratified_and_seeded(digits):
    x, y, _, _ = digits
    order = np.argsort(y, kind="stable")  # sorted by class: Keras' "last" keeps one class
    samples = as_samples((x[order], y[order]))
    train, held = split_validation(samples, 0.2, "stratified", seed=3)
    again, _ = split_validation(samples, 0.2, "stratified", seed=3)
    assert torch.equal(train.targets, again.targets)
    shares = torch.bincount(held.targets, minlength=10) / torch.bincount(samples.targets)
    assert ((shares - 0.2).abs() < 0.02).all()
    _, last = split_validation(samples, 0.2, "last")
    assert set(last.targets.tolist()) <= {7, 8, 9}


def test_a_validation_set_missing_classes_is_a_warning(digits):
    x, y, _, _ = digits
    order = np.argsort(y, kind="stable")
    trainer = Trainer(TinyNet(), **quiet(epochs=1))
    with pytest.warns(
        CnnlabWarning, match=r"no samples of 7 of the training classes \(0, 1, 2, 3, 4, 5, 6\)"
    ):
        trainer.fit(x[order], y[order], validation_split=0.2, split="last")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CnnlabWarning)
        Trainer(TinyNet(), **quiet(epochs=1)).fit(x[order], y[order], validation_split=0.2)


def test_the_checks_leave_the_random_state_alone(digits):
    x, y, _, _ = digits

    def weights_after_fit():
        seed_everything(0)
        model = TinyNet()
        Trainer(model, **quiet(epochs=1, seed=4)).fit(x, y)
        return model.state_dict()

    first, second = weights_after_fit(), weights_after_fit()
    assert all(torch.equal(first[k], second[k]) for k in first)
