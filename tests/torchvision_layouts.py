"""torchvision's ImageNet checkpoints described without cnnlab (and without torchvision): the
keys and shapes of its resnet18/34/50 and googlenet state dicts, written from the published
architectures (torchvision's models/resnet.py and models/googlenet.py), random state dicts in
that layout, and those networks' forward passes written with torch.nn.functional on the
torchvision keys. The tests check cnnlab's mapping against these, not against itself."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Blocks per stage, bottleneck or basic (He et al., table 1).
RESNETS = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
}
# torchvision's weights metadata, "num_params" (googlenet: without its auxiliary heads).
NUM_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
}
# torchvision's Inception(...) calls: in_channels, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5"
# (a 3x3 kernel in torchvision), pool proj; a pool follows 3b (3x3/2) and 4e (2x2/2).
INCEPTIONS = (
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
)
POOL_AFTER = {"inception3b": 3, "inception4e": 2}


def _bn(name: str, c: int) -> dict[str, tuple[int, ...]]:
    stats = ("weight", "bias", "running_mean", "running_var")
    return {**{f"{name}.{s}": (c,) for s in stats}, f"{name}.num_batches_tracked": ()}


def resnet_shapes(name: str, classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``resnetN().state_dict()``."""
    layers, bottleneck = RESNETS[name]
    expansion = 4 if bottleneck else 1
    shapes = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    inplanes = 64
    for i, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
        for j in range(blocks):
            p, stride = f"layer{i + 1}.{j}", 2 if i > 0 and j == 0 else 1
            if bottleneck:
                convs = [(planes, inplanes, 1), (planes, planes, 3), (planes * 4, planes, 1)]
            else:
                convs = [(planes, inplanes, 3), (planes, planes, 3)]
            for n, (cout, cin, k) in enumerate(convs, 1):
                shapes[f"{p}.conv{n}.weight"] = (cout, cin, k, k)
                shapes.update(_bn(f"{p}.bn{n}", cout))
            if j == 0 and (stride != 1 or inplanes != planes * expansion):
                shapes[f"{p}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", planes * expansion))
            inplanes = planes * expansion
    return {**shapes, "fc.weight": (classes, 512 * expansion), "fc.bias": (classes,)}


def googlenet_shapes(aux: bool = True, classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``googlenet(aux_logits=aux).state_dict()``."""

    def basic(name: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
        return {f"{name}.conv.weight": (cout, cin, k, k), **_bn(f"{name}.bn", cout)}

    shapes = {**basic("conv1", 3, 64, 7), **basic("conv2", 64, 64, 1), **basic("conv3", 64, 192, 3)}
    for name, cin, c1, r3, c3, r5, c5, pool_proj in INCEPTIONS:
        shapes.update(basic(f"{name}.branch1", cin, c1, 1))
        shapes.update(basic(f"{name}.branch2.0", cin, r3, 1))
        shapes.update(basic(f"{name}.branch2.1", r3, c3, 3))
        shapes.update(basic(f"{name}.branch3.0", cin, r5, 1))
        shapes.update(basic(f"{name}.branch3.1", r5, c5, 3))
        shapes.update(basic(f"{name}.branch4.1", cin, pool_proj, 1))
    if aux:
        for name, cin in (("aux1", 512), ("aux2", 528)):
            shapes.update(basic(f"{name}.conv", cin, 128, 1))
            shapes.update({f"{name}.fc1.weight": (1024, 2048), f"{name}.fc1.bias": (1024,)})
            shapes.update({f"{name}.fc2.weight": (classes, 1024), f"{name}.fc2.bias": (classes,)})
    return {**shapes, "fc.weight": (classes, 1024), "fc.bias": (classes,)}


def layout(name: str, aux: bool = True) -> dict[str, tuple[int, ...]]:
    return googlenet_shapes(aux) if name == "googlenet" else resnet_shapes(name)


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of ``shapes``, scaled like a trained network: weights of variance
    1 / fan-in, batch-norm scales and running variances near 1, so that features and logits
    come out near unit scale (He scaling, 2 / fan-in, makes them grow block after block)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif len(shape) > 1:  # conv or linear weights
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        elif key.endswith(".weight"):  # batch-norm scale
            state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:  # biases, shifts, running means
            state[key] = 0.1 * torch.randn(shape, generator=g)
    return state


def _bn_f(x: torch.Tensor, s: dict, p: str, eps: float = 1e-5) -> torch.Tensor:
    weight, bias = s[f"{p}.weight"], s[f"{p}.bias"]
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], weight, bias, eps=eps)


def resnet_forward(name: str, s: dict, x: torch.Tensor) -> torch.Tensor:
    """torchvision's ResNet in eval mode, on ImageNet-normalised ``x``."""
    layers, bottleneck = RESNETS[name]
    x = F.relu(_bn_f(F.conv2d(x, s["conv1.weight"], stride=2, padding=3), s, "bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    for i, blocks in enumerate(layers):
        for j in range(blocks):
            p, stride = f"layer{i + 1}.{j}", 2 if i > 0 and j == 0 else 1
            if bottleneck:  # the stride on the 3x3 (torchvision's "v1.5")
                out = F.relu(_bn_f(F.conv2d(x, s[f"{p}.conv1.weight"]), s, f"{p}.bn1"))
                out = F.conv2d(out, s[f"{p}.conv2.weight"], stride=stride, padding=1)
                out = F.relu(_bn_f(out, s, f"{p}.bn2"))
                out = _bn_f(F.conv2d(out, s[f"{p}.conv3.weight"]), s, f"{p}.bn3")
            else:
                out = F.conv2d(x, s[f"{p}.conv1.weight"], stride=stride, padding=1)
                out = F.relu(_bn_f(out, s, f"{p}.bn1"))
                out = _bn_f(F.conv2d(out, s[f"{p}.conv2.weight"], padding=1), s, f"{p}.bn2")
            if f"{p}.downsample.0.weight" in s:
                x = F.conv2d(x, s[f"{p}.downsample.0.weight"], stride=stride)
                x = _bn_f(x, s, f"{p}.downsample.1")
            x = F.relu(out + x)
    return F.linear(x.mean((2, 3)), s["fc.weight"], s["fc.bias"])


def googlenet_forward(s: dict, x: torch.Tensor) -> torch.Tensor:
    """torchvision's GoogLeNet in eval mode with its weights' ``transform_input=True``, on
    ImageNet-normalised ``x``."""

    def basic(x: torch.Tensor, p: str, padding: int = 0, stride: int = 1) -> torch.Tensor:
        x = F.conv2d(x, s[f"{p}.conv.weight"], stride=stride, padding=padding)
        return F.relu(_bn_f(x, s, f"{p}.bn", eps=1e-3))

    x = torch.cat(
        [
            x[:, c : c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5
            for c in (0, 1, 2)
        ],
        dim=1,
    )
    x = F.max_pool2d(basic(x, "conv1", 3, 2), 3, 2, ceil_mode=True)
    x = F.max_pool2d(basic(basic(x, "conv2"), "conv3", 1), 3, 2, ceil_mode=True)
    for name, *_ in INCEPTIONS:
        branches = [
            basic(x, f"{name}.branch1"),
            basic(basic(x, f"{name}.branch2.0"), f"{name}.branch2.1", 1),
            basic(basic(x, f"{name}.branch3.0"), f"{name}.branch3.1", 1),
            basic(F.max_pool2d(x, 3, 1, 1, ceil_mode=True), f"{name}.branch4.1"),
        ]
        x = torch.cat(branches, dim=1)
        if name in POOL_AFTER:
            x = F.max_pool2d(x, POOL_AFTER[name], 2, ceil_mode=True)
    return F.linear(x.mean((2, 3)), s["fc.weight"], s["fc.bias"])
