"""GoogLeNet against the paper's table 1 (Szegedy et al., 2014)."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.layers import Inception
from cnnlab.models import create_model

# Table 1, one row per module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE = [
    (64, 96, 128, 16, 32, 32),
    (128, 128, 192, 32, 96, 64),
    (192, 96, 208, 16, 48, 64),
    (160, 112, 224, 24, 64, 64),
    (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64),
    (256, 160, 320, 32, 128, 128),
    (256, 160, 320, 32, 128, 128),
    (384, 192, 384, 48, 128, 128),
]
MODULE_OUTPUTS = [256, 480, 512, 512, 512, 528, 832, 832, 1024]


def conv(k: int, cin: int, cout: int) -> int:
    """Weights plus biases of a k x k convolution: k * k * cin * cout + cout."""
    return k * k * cin * cout + cout


def table_parameters() -> int:
    """The main path's parameters, written out from table 1's channel numbers.

    Stem: conv 7x7/2 3->64, conv 1x1 64->64 (the "3x3 reduce" row), conv 3x3 64->192. Each
    module: its six convolutions, with input channels the previous module's output (192 for
    3a). Classifier: linear 1024 -> 1000. No aux heads (the table does not list them).
    """
    total = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)
    cin = 192
    for c1, r3, c3, r5, c5, pp in TABLE:
        total += conv(1, cin, c1) + conv(1, cin, r3) + conv(3, r3, c3)
        total += conv(1, cin, r5) + conv(5, r5, c5) + conv(1, cin, pp)
        cin = c1 + c3 + c5 + pp
    return total + 1024 * 1000 + 1000


def aux_parameters(cin: int) -> int:
    """One auxiliary classifier (sec. 5): 1x1 conv to 128, FC 4*4*128 -> 1024, FC 1024 -> 1000."""
    return conv(1, cin, 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)


def test_module_outputs_follow_the_table():
    assert [c1 + c3 + c5 + pp for c1, _, c3, _, c5, pp in TABLE] == MODULE_OUTPUTS


def test_parameters_match_the_table():
    model = create_model("googlenet", aux_logits=False)
    assert sum(p.numel() for p in model.parameters()) == table_parameters() == 6_998_552


def test_aux_heads_add_their_parameters():
    model = create_model("googlenet")
    expected = table_parameters() + aux_parameters(512) + aux_parameters(528)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_module_channel_sequence_in_a_forward_pass():
    model = create_model("googlenet", aux_logits=False).eval()
    seen: list[int] = []
    for module in model.modules():
        if isinstance(module, Inception):
            module.register_forward_hook(lambda m, i, out: seen.append(out.shape[1]))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert seen == MODULE_OUTPUTS
    assert [m.out_channels for m in model.modules() if isinstance(m, Inception)] == seen


def layers_with_parameters(module: nn.Module) -> int:
    """Depth in conv/linear layers: parallel branches count once, as their deepest branch."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        return 1
    if isinstance(module, Inception):
        return max(layers_with_parameters(branch) for branch in module.branches)
    return sum(layers_with_parameters(child) for child in module.children())


def test_twenty_two_layers_with_parameters():
    model = create_model("googlenet")
    depth = layers_with_parameters(model.features) + layers_with_parameters(model.head)
    assert depth == 22


def test_batch_norm_is_an_option_off_by_default():
    assert not any(isinstance(m, nn.BatchNorm2d) for m in create_model("googlenet").modules())
    with_bn = create_model("googlenet", norm_layer=nn.BatchNorm2d, aux_logits=False)
    norms = [m for m in with_bn.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 3 + 6 * 9
