"""Model zoo: one registry, one builder per architecture.

>>> from cnnlab.models import create_model, list_models
>>> model = create_model("lenet5", num_classes=10)
"""

from cnnlab.models import (  # noqa: F401  (importing registers the builders)
    googlenet,
    lenet,
    mlp,
    mnist_cnn,
    resnet,
    textcnn,
    unet,
)
from cnnlab.models.registry import create_model, list_models, model_name, register_model

create = create_model

__all__ = ["create", "create_model", "list_models", "model_name", "register_model"]
