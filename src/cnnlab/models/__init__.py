"""Model zoo: one registry, one builder per architecture, metadata beside each builder.

>>> from cnnlab.models import create_model, list_models, model_info
>>> model = create_model("lenet5", num_classes=10)
>>> model_info(model).input_size
(1, 32, 32)
"""

from cnnlab.models import (  # noqa: F401  (importing registers the builders)
    fastcnn,
    googlenet,
    lenet,
    mlp,
    mnist_cnn,
    resnet,
    textcnn,
    unet,
)
from cnnlab.models.ensemble import Ensemble
from cnnlab.models.info import ModelInfo, main_output, model_info
from cnnlab.models.pretrained import create_model
from cnnlab.models.registry import (
    ModelCard,
    list_models,
    model_card,
    model_name,
    register_model,
)

create = create_model

__all__ = [
    "Ensemble",
    "ModelCard",
    "ModelInfo",
    "create",
    "create_model",
    "list_models",
    "main_output",
    "model_card",
    "model_info",
    "model_name",
    "register_model",
]
