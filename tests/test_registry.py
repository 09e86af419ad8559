"""One registry class for models, datasets and experiments: one key rule, one error with
suggestions; model metadata registered beside each builder and read through model_info."""

import pytest
import torch
from torch import nn

from cnnlab.data import dataset_info, list_datasets
from cnnlab.errors import CnnlabError
from cnnlab.experiments import get_experiment, list_experiments
from cnnlab.models import create_model, list_models, main_output, model_card, model_info
from cnnlab.registry import Registry, registry_key


def test_one_key_rule():
    assert registry_key(" Inception_Block ") == "inception-block"
    registry = Registry("widget")
    registry.add("big_one", 1)
    assert registry.get("BIG-ONE") == registry.get("big_one") == 1
    assert "Big_One" in registry and "small" not in registry
    with pytest.raises(ValueError, match="already registered"):
        registry.add("BIG-one", 2)


def test_unknown_names_suggest_the_closest_known_ones():
    with pytest.raises(CnnlabError, match=r"unknown model 'lenet'; did you mean 'lenet5'\?"):
        create_model("lenet")
    with pytest.raises(CnnlabError, match="did you mean 'mnist'"):
        dataset_info("mnst")
    with pytest.raises(CnnlabError, match="did you mean 'dropout'"):
        get_experiment("drpout")
    with pytest.raises(CnnlabError, match=r"choose one of: .*lenet5"):
        create_model("xyzzy")


def test_the_three_registries_share_the_rule():
    assert create_model("MNIST_CNN").registry_name == "mnist-cnn"
    assert dataset_info("Fashion_MNIST").name == "fashion-mnist"
    assert get_experiment("Spam_TextCNN") is get_experiment("spam-textcnn")
    assert all(name == registry_key(name) for name in list_models() + list_datasets())
    assert all(name == registry_key(name) for name in list_experiments())


@pytest.mark.parametrize("name", list_models())
def test_every_card_matches_the_model_it_describes(name):
    with torch.device("meta"):
        model = create_model(name)
    info, card = model_info(model), model_card(name)
    assert info.registered and info.name == name and info.task == card.task
    if card.task is None:
        return
    size = info.input_size
    x = torch.zeros(1, *size, dtype=info.input_dtype, device="meta")
    logits = main_output(model.eval()(x))
    assert logits.shape[1] == card.num_classes
    assert logits.ndim == (4 if card.task == "segmentation" else 2)


def test_a_model_of_your_own_declares_its_input():
    class Mine(nn.Module):
        input_size = (3, 16, 16)

        def forward(self, x):
            return x

    info = model_info(Mine())
    assert (info.name, info.task, info.input_size, info.registered) == (
        "Mine",
        None,
        (3, 16, 16),
        False,
    )
    assert info.input_kind == "image"
    assert model_info(nn.Linear(2, 2)).input_size is None
    assert model_info(create_model("textcnn")).input_kind == "tokens"


def test_main_output_takes_the_first_head():
    logits, aux = torch.ones(2, 3), torch.zeros(2, 3)
    assert main_output((logits, aux)) is logits
    assert main_output(logits) is logits
