"""Inception: the 1x1 bottleneck's cost, and auxiliary classifiers in a small GoogLeNet.

Szegedy et al., "Going Deeper with Convolutions", 2014. The network trained here is GoogLeNet
in miniature, built from the library's :class:`~cnnlab.layers.Inception` modules and
:class:`~cnnlab.models.googlenet.AuxClassifier` heads: stem, five Inception modules, global
average pooling; auxiliary classifiers on the 3rd and 4th module as on 4a and 4d. The cost
table is the one of the course notes' "Inception Block" section.

Quick: the bundled digits enlarged to 16x16, 5 epochs per model. Full: CIFAR-10 (download),
30 epochs per model. Run times are in docs/experiments.md.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.arith import bottleneck_comparison
from cnnlab.data import Dataset
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.plots import Line, Panel, epochs_of, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.layers import ClassifierHead, ConvNormAct, Inception
from cnnlab.layers.conv import LayerSpec
from cnnlab.models import create_model
from cnnlab.models.googlenet import AuxClassifier, GoogLeNetOutputs, forward_with_aux
from cnnlab.summary import summarize
from cnnlab.train.inputs import spec_for

NOTES_MACS = {"direct": 120_422_400, "bottleneck": 12_443_648}
# name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), GoogLeNet's table 1 scaled down
STAGES: tuple[tuple[str, tuple[int, ...] | None], ...] = (
    ("inception_a", (16, 16, 24, 4, 8, 8)),
    ("inception_b", (24, 24, 32, 8, 16, 8)),
    ("pool", None),
    ("inception_c", (32, 32, 48, 8, 16, 16)),
    ("inception_d", (40, 40, 56, 8, 16, 16)),
    ("inception_e", (48, 48, 64, 12, 24, 24)),
)
AUX_TAPS = ("inception_c", "inception_d")


class SmallGoogLeNet(nn.Module):
    """3x3 stem and 2x2 pool, five Inception modules (a pool after the second), global average
    pooling, dropout, dense. With ``aux_logits`` two auxiliary classifiers run in training
    mode only, where the output is ``GoogLeNetOutputs(logits, aux1, aux2)``; eval returns the
    logits.

    Shapes:
        ``N x in_channels x H x W -> N x num_classes`` (H, W = 28 or 32).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        aux_logits: bool = True,
        norm_layer: LayerSpec = None,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            stem=ConvNormAct(in_channels, 32, 3, 1, 1, norm_layer),  # N x 32 x H x W
            stem_pool=nn.MaxPool2d(2),  # N x 32 x H/2 x W/2
        )
        channels = 32
        for name, spec in STAGES:
            if spec is None:
                layers[name] = nn.MaxPool2d(3, 2, ceil_mode=True)  # N x C x H/4 x W/4
                continue
            layers[name] = Inception(channels, *spec, norm_layer=norm_layer)
            channels = layers[name].out_channels
        self.features = nn.Sequential(layers)
        taps = {t: self.features.get_submodule(t).out_channels for t in AUX_TAPS}
        self.aux = (
            nn.ModuleDict(
                {t: AuxClassifier(c, num_classes, norm_layer=norm_layer) for t, c in taps.items()}
            )
            if aux_logits
            else None
        )
        self.head = ClassifierHead(channels, num_classes, pool="avg", dropout=0.4)
        self.input_size: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        return forward_with_aux(self, x)


@dataclass(frozen=True)
class Settings:
    """Images are resized to ``image_size`` by the trainer (8x8 digits -> 16x16)."""

    dataset: str
    image_size: int
    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    aux_weight: float = 0.3
    norm_layer: str | None = "batch"
    seed: int = 0


QUICK = Settings(dataset="digits", image_size=16, epochs=5)
FULL = Settings(dataset="cifar10", image_size=32, epochs=30)


def stem_gradient(model: SmallGoogLeNet, x: torch.Tensor, y: torch.Tensor, weight: float):
    """Gradient norm at the stem convolution for the main loss alone and for the main loss
    plus ``weight`` times the auxiliary losses (the paper's training objective)."""
    model.train()
    out = model(x)
    stem = model.features.stem[0].weight
    main = F.cross_entropy(out.logits, y)
    total = main + weight * sum(F.cross_entropy(a, y) for a in out[1:])
    alone = torch.autograd.grad(main, stem, retain_graph=True)[0].norm()
    both = torch.autograd.grad(total, stem)[0].norm()
    return float(alone), float(both)


@register_experiment
def inception(ctx: Context) -> Report:
    """Inception: the 1x1 bottleneck cost table and a small GoogLeNet with/without aux heads."""
    s = ctx.pick(QUICK, FULL)
    train, val = ctx.load(s.dataset, "train"), ctx.load(s.dataset, "test")
    channels = int(train.images.shape[1])
    report = Report(
        ctx,
        "Inception: 1x1 bottlenecks and auxiliary classifiers",
        "The notes compute the cost of a 5x5 'same' convolution with 32 filters on a 28x28x192 "
        "volume, directly and after a 1x1 convolution down to 16 channels, then describe "
        "GoogLeNet's auxiliary classifiers as a way to bring gradient to the early layers.",
        settings=s,
    )
    cost = _cost_table(report)
    report.result(
        "multiplications, 5x5 conv on 28x28x192, direct",
        cost.direct.macs,
        "{:,}",
        f"{NOTES_MACS['direct']:,} (the notes)",
        headline=True,
    )
    report.result(
        "multiplications, behind a 1x1 bottleneck to 16 channels",
        cost.bottleneck_macs,
        "{:,}",
        f"{NOTES_MACS['bottleneck']:,} (the notes)",
        headline=True,
    )
    histories, models = {}, {}
    for aux in (False, True):
        torch.manual_seed(s.seed)
        model = SmallGoogLeNet(10, channels, aux, s.norm_layer, s.image_size)
        trainer = ctx.trainer(
            model,
            "aux" if aux else "no-aux",
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            aux_weight=s.aux_weight,
            seed=s.seed,
        )
        histories[aux] = trainer.fit(train, val).rows
        models[aux] = model
    torch.manual_seed(s.seed)
    fresh = SmallGoogLeNet(10, channels, True, s.norm_layer, s.image_size)
    x = spec_for(fresh, "image").apply(train.images[:128])
    alone, both = stem_gradient(fresh, x, train.labels[:128], s.aux_weight)
    inference = {
        aux: sum(p.numel() for n, p in m.named_parameters() if not n.startswith("aux"))
        for aux, m in models.items()
    }
    total = {aux: sum(p.numel() for p in m.parameters()) for aux, m in models.items()}
    report.result(
        "validation accuracy, without auxiliary classifiers",
        histories[False][-1]["val_accuracy"],
        headline=True,
    )
    report.result(
        "validation accuracy, with auxiliary classifiers",
        histories[True][-1]["val_accuracy"],
        literature="aux heads: about +0.5% top-1 on ImageNet (Szegedy et al. 2014, sec. 5)",
        headline=True,
    )
    report.result("parameters used at inference (both)", inference[True], "{:,}")
    report.result("parameters in training, with auxiliary classifiers", total[True], "{:,}")
    report.result("stem gradient norm, main loss only (at initialization)", alone, "{:.3e}")
    report.result(f"stem gradient norm, main + {s.aux_weight} x auxiliary losses", both, "{:.3e}")
    _training(ctx, report, s, histories, train, val, models[True])
    report.check(
        "the 1x1 bottleneck cuts the multiplications as in the notes (120,422,400 -> 12,443,648)",
        f"{cost.direct.macs:,} -> {cost.bottleneck_macs:,} ({cost.macs_ratio:.1f}x)",
        (cost.direct.macs, cost.bottleneck_macs)
        == (NOTES_MACS["direct"], NOTES_MACS["bottleneck"]),
    )
    report.check(
        "both small GoogLeNets learn",
        " and ".join(f"{histories[a][-1]['val_accuracy']:.2%}" for a in (False, True))
        + " (bar 90%)",
        min(histories[a][-1]["val_accuracy"] for a in (False, True)) > 0.9,
    )
    report.check(
        "auxiliary losses bring more gradient to the first layer",
        f"{both:.3e} > {alone:.3e}",
        both > alone,
    )
    report.check(
        "auxiliary classifiers add nothing at inference",
        f"{inference[True]:,} = {inference[False]:,} parameters; eval output is one tensor",
        inference[True] == inference[False]
        and isinstance(_eval_output(models[True], val), torch.Tensor),
    )
    report.metrics.update(
        direct_macs=cost.direct.macs,
        bottleneck_macs=cost.bottleneck_macs,
        direct_params=cost.direct.params,
        bottleneck_params=cost.bottleneck_params,
        accuracy_aux=histories[True][-1]["val_accuracy"],
        accuracy_no_aux=histories[False][-1]["val_accuracy"],
        stem_gradient_main=alone,
        stem_gradient_with_aux=both,
    )
    return report


def _eval_output(model: nn.Module, data: Dataset):
    model.eval()
    with torch.no_grad():
        return model(spec_for(model, "image").apply(data.images[:2]))


def _cost_table(report: Report):
    cost = bottleneck_comparison("28x28x192", 5, 32, 16)
    rows = [
        [
            "5x5 conv, 32 filters (direct)",
            cost.direct.params,
            cost.direct.macs,
            NOTES_MACS["direct"],
        ],
        ["1x1 conv, 16 filters (bottleneck)", cost.reduce.params, cost.reduce.macs, 2_408_448],
        ["then 5x5 conv, 32 filters", cost.conv.params, cost.conv.macs, 10_035_200],
        [
            "bottleneck path, total",
            cost.bottleneck_params,
            cost.bottleneck_macs,
            NOTES_MACS["bottleneck"],
        ],
    ]
    report.doc.heading("The cost of a 5x5 convolution, with and without a 1x1 bottleneck")
    report.doc.paragraph(
        "Input 28x28x192, output 28x28x32, 'same' padding. Multiplications = H_out W_out "
        "C_out f f C_in; parameters = (f f C_in + 1) C_out, one bias per filter (the notes "
        f"count one per layer). The bottleneck needs {cost.macs_ratio:.1f}x fewer "
        f"multiplications and {cost.params_ratio:.1f}x fewer parameters."
    )
    report.doc.table(
        ["layer", "parameters", "multiplications", "notes"],
        [[name, f"{p:,}", f"{m:,}", f"{n:,}"] for name, p, m, n in rows],
    )
    block = summarize(create_model("inception-block"))
    report.doc.paragraph(
        f"The notes' whole Inception block (inception 3a, 28x28x192 -> 28x28x256) has "
        f"{block.total_params:,} parameters and {block.total_macs:,} multiply-accumulates."
    )
    return cost


def _training(ctx: Context, report: Report, s: Settings, histories, train, val, model) -> None:
    lines = []
    for aux, color in ((False, "tab:blue"), (True, "tab:red")):
        label = "with aux" if aux else "without aux"
        lines.append(
            Line(
                f"{label}, train",
                *epochs_of(histories[aux], "loss"),
                {"color": color, "linestyle": "--"},
            )
        )
        lines.append(
            Line(f"{label}, validation", *epochs_of(histories[aux], "val_loss"), {"color": color})
        )
    path = plot_panels(
        [Panel("Main-head loss", "epoch", "cross-entropy", lines, log=True)], ctx.figure("aux")
    )
    source = (
        f"Data: {s.dataset} ({len(train):,} train / {len(val):,} test), resized to "
        f"{s.image_size}x{s.image_size}."
    )
    report.doc.heading("A small GoogLeNet, with and without auxiliary classifiers")
    report.doc.paragraph(
        "Stem (3x3 conv 32, 2x2 max pool), Inception modules a and b, 3x3/2 max pool, modules "
        "c, d and e, global average pooling, dropout 0.4, dense, with batch norm after every "
        "convolution (as in BN-Inception, Ioffe & Szegedy 2015) so that it trains from "
        "scratch in a few epochs. The "
        "auxiliary classifiers (average pool to 4x4, 1x1 conv 128, FC 1024, dropout "
        f"0.7, FC) sit on modules c and d; their losses are added with weight {s.aux_weight}. "
        "They exist only in training: in eval mode the model returns the main logits. The "
        "training loss of the aux model includes the auxiliary terms. " + source
    )
    report.doc.figure(path, "Loss per epoch (dashed: train, solid: validation)")
    summary = summarize(model, mode="train")
    report.doc.paragraph(
        f"Model with auxiliary classifiers: {summary.total_params:,} parameters, of which the two "
        "auxiliary heads hold most (their 2048 x 1024 dense layers)."
    )
