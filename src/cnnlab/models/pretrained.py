"""Published ImageNet weights for the zoo's ResNet-18/34/50 and GoogLeNet: torchvision's
checkpoint files, read into cnnlab's modules (:mod:`cnnlab.models.torchvision_layout`).

``create_model(name, weights=W)`` takes ``W`` as

- a name torchvision gives the weights (``IMAGENET1K_V1``, ``IMAGENET1K_V2``, ``DEFAULT``;
  ``imagenet`` is ``DEFAULT``): the file is downloaded once from
  ``https://download.pytorch.org/models/`` into ``<data dir>/weights/`` and verified;
- a URL (``https://...``, ``file://...``): downloaded the same way;
- a path to a ``.pth`` file: a state dict in torchvision's layout or in cnnlab's.

A file name ``name-<hex>.pth`` carries the start of the file's sha256 (torch.hub's
``check_hash`` convention); it is checked on download and on every later use. Files are read
with ``torch.load(weights_only=True)``: tensors only, never pickled code.

With ``num_classes`` other than the weights' 1000 every layer is loaded except the classifier,
which keeps its fresh initialisation (for fine-tuning, :func:`cnnlab.train.fine_tune`). The
model then declares the normalisation the weights were trained with (``input_mean``,
``input_std``; read through :func:`cnnlab.models.model_info`), which training records in the
run's input spec, so predict and the studio apply it.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import registry
from cnnlab.models.torchvision_layout import to_cnnlab
from cnnlab.registry import registry_key

TORCHVISION_MODELS = "https://download.pytorch.org/models/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")  # torch.hub's HASH_REGEX, at least 6 digits
ALIASES = {"default": "DEFAULT", "imagenet": "DEFAULT"}


@dataclass(frozen=True)
class PublishedWeights:
    """One checkpoint file torchvision publishes for a zoo model.

    Args:
        model: the zoo name.
        tag: torchvision's name for the weights (``IMAGENET1K_V1``).
        file: the file name under :data:`TORCHVISION_MODELS`; the hex after its last dash is
            the start of the file's sha256.
        top1: ImageNet-1k top-1 accuracy (%) torchvision reports for them.
        build: builder arguments the weights need (merged under the caller's).
        mean, std: the per-channel normalisation of the inputs they were trained on.
    """

    model: str
    tag: str
    file: str
    top1: float
    build: dict = field(default_factory=dict)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @property
    def url(self) -> str:
        return TORCHVISION_MODELS + self.file

    @property
    def sha256_prefix(self) -> str:
        return hash_prefix(self.file)


# torchvision's GoogLeNet weights take ImageNet-normalised inputs and, with its
# transform_input, map them back to (x - 0.5) / 0.5: that is the normalisation recorded here.
# Their auxiliary heads were not trained (torchvision warns so), hence aux_logits=False.
PUBLISHED = (
    PublishedWeights("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 69.758),
    PublishedWeights("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth", 73.314),
    PublishedWeights("resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 76.130),
    PublishedWeights("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 80.858),
    PublishedWeights(
        "googlenet",
        "IMAGENET1K_V1",
        "googlenet-1378be20.pth",
        69.778,
        build={"variant": "torchvision", "aux_logits": False},
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    ),
)
DEFAULT_TAGS = {  # torchvision's DEFAULT: its best weights for each model
    "resnet18": "IMAGENET1K_V1",
    "resnet34": "IMAGENET1K_V1",
    "resnet50": "IMAGENET1K_V2",
    "googlenet": "IMAGENET1K_V1",
}


def hash_prefix(file_name: str) -> str | None:
    """The sha256 prefix in a torch.hub file name (``resnet18-f37072fd.pth`` -> ``f37072fd``)."""
    found = HASH_IN_NAME.search(file_name)
    return found.group(1) if found else None


def published(model: str, tag: str = "DEFAULT") -> PublishedWeights:
    """The published weights ``tag`` of zoo model ``model``.

    Raises:
        CnnlabError: no such weights, naming those that exist.
    """
    tag = ALIASES.get(tag.lower(), tag)
    if tag == "DEFAULT":
        tag = DEFAULT_TAGS.get(model, tag)
    for entry in PUBLISHED:
        if entry.model == model and entry.tag == tag:
            return entry
    tags = sorted({e.tag for e in PUBLISHED if e.model == model})
    if not tags:
        names = ", ".join(sorted(DEFAULT_TAGS))
        raise CnnlabError(f"no published weights for {model}; there are some for {names}")
    raise CnnlabError(
        f"{model} has no weights named {tag!r}; choose one of {', '.join(tags)}, DEFAULT, "
        "imagenet, a .pth file or a URL"
    )


def build_arguments(model: str) -> dict:
    """The builder arguments published weights of ``model`` need (``{}`` for none)."""
    return dict(published(model).build) if model in DEFAULT_TAGS else {}


def _is_url(text: str) -> bool:
    return urlparse(text).scheme in ("http", "https", "file")


def weights_file(model: str, weights: str | os.PathLike) -> tuple[Path, PublishedWeights | None]:
    """The local file ``weights`` names (downloaded and verified first when needed) and the
    published entry it is, if any."""
    from cnnlab.data.download import check_sha256, data_root, fetch  # the one verified download

    text = os.fspath(weights)
    by_file = {e.file: e for e in PUBLISHED if e.model == model}
    if _is_url(text):
        name = Path(urlparse(text).path).name
        path = fetch(text, data_root() / "weights" / name, sha256=hash_prefix(name))
        return path, by_file.get(name)
    path = Path(text).expanduser()
    if path.is_file():
        entry = by_file.get(path.name)  # torchvision's own file: its name says its hash
        check_sha256(path, entry.sha256_prefix if entry else None, entry.url if entry else "")
        return path, entry
    if isinstance(weights, str) and not re.search(r"[/\\.]", weights):
        entry = published(model, weights)
        path = data_root() / "weights" / entry.file
        return fetch(entry.url, path, sha256=entry.sha256_prefix), entry
    raise CnnlabError(
        f"weights must be a .pth file, a URL or a published name (IMAGENET1K_V1, DEFAULT, "
        f"imagenet). Received: weights={text!r}, which is not a file"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict saved in ``path``, read with ``torch.load(weights_only=True)``.

    Raises:
        CnnlabError: the file is not a saved dict of tensors.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise CnnlabError(
            f"{path} is not a PyTorch state dict ({type(error).__name__}: {first}); pass a "
            "torchvision checkpoint or a file saved with torch.save(model.state_dict(), path)"
        ) from error
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CnnlabError(
            f"{path} holds a {type(state).__name__}, not a state dict of named tensors; save "
            "one with torch.save(model.state_dict(), path)"
        )
    return state


def classifier_keys(model: nn.Module) -> set[str]:
    """The keys of the final linear layers (main head, auxiliary heads): what changes with
    ``num_classes``."""
    head = {
        f"{name}.{len(module) - 1}".lstrip(".")
        for name, module in model.named_modules()
        if isinstance(module, nn.Sequential) and len(module) and isinstance(module[-1], nn.Linear)
    }
    return {key for key in model.state_dict() if key.rpartition(".")[0] in head}


def load_pretrained(model: nn.Module, weights: str | os.PathLike, name: str) -> None:
    """Load ``weights`` into zoo model ``model`` (registry name ``name``) and declare the
    normalisation they were trained with (see the module's docstring for ``weights``).

    Raises:
        CnnlabError: a missing or unreadable file, a hash that does not match, keys that are
            in neither layout, or shapes that differ outside the classifier.
    """
    path, entry = weights_file(name, weights)
    state = read_state_dict(path)
    own = model.state_dict()
    if not set(state) & set(own):  # not cnnlab's own keys: torchvision's layout
        state = to_cnnlab(state, model, str(path))
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CnnlabError(
            f"{path} does not fit {name}: {len(missing)} missing ({', '.join(missing[:3])}), "
            f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})"
        )
    heads = classifier_keys(model)
    kept = {}
    for key, value in state.items():
        if value.shape == own[key].shape:
            kept[key] = value
        elif key not in heads:  # the classifier alone follows num_classes
            raise CnnlabError(
                f"{path}: {key} is {tuple(value.shape)} but {name} has {tuple(own[key].shape)}; "
                "build the model with the arguments the weights were trained with"
            )
    model.load_state_dict(kept, strict=False)
    norm = entry or (published(name) if name in DEFAULT_TAGS else None)
    if norm is not None:
        model.input_mean, model.input_std = norm.mean, norm.std


def create_model(name: str, weights: str | os.PathLike | None = None, **kwargs) -> nn.Module:
    """Build the registered model ``name`` (:func:`cnnlab.models.registry.create_model`) and,
    with ``weights``, load published ImageNet weights (``"imagenet"``, ``"IMAGENET1K_V1"``), a
    URL or a ``.pth`` file into it, built first with the arguments they need; any
    ``num_classes`` keeps a fresh classifier.

    Raises:
        CnnlabError: when no model has that name, the builder rejects an argument, or the
            weights cannot be found or do not fit.
    """
    if weights is None:
        return registry.create_model(name, **kwargs)
    key = registry_key(name)
    model = registry.create_model(name, **{**build_arguments(key), **kwargs})
    load_pretrained(model, weights, key)
    return model
