"""Block diagrams: graph facts computed from the models themselves (a chain for LeNet-5, a skip
around every residual block, four-way concatenations, U-Net skips from encoder to decoder), a
layout without overlaps, well-formed SVG, a readable PNG and the command line's errors."""

import itertools
import json
import xml.etree.ElementTree as ET

import pytest
import torch
from PIL import Image
from torch import nn

from cnnlab.cli.main import main
from cnnlab.diagram import collapse, diagram, layout_graph, load_model, trace_graph
from cnnlab.diagram.labels import format_params, format_shape
from cnnlab.diagram.ranks import longest_path
from cnnlab.errors import CnnlabError

SVG = "{http://www.w3.org/2000/svg}"
SHOWN = ("lenet5", "resnet20", "googlenet", "unet")


@pytest.fixture(scope="module")
def traced():
    """Full graphs (every layer) of the four models the diagrams are checked on."""
    return {name: trace_graph(load_model(name)) for name in SHOWN}


def svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()  # raises on malformed XML
    return [t.text for t in root.iter(f"{SVG}text")]


def test_lenet5_is_a_chain_of_its_layers(traced):
    model = load_model("lenet5")
    graph = traced["lenet5"]
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    assert len(graph.nodes) == len(leaves) + 2  # + input and output
    assert len(graph.edges) == len(graph.nodes) - 1
    ids = list(graph.nodes)
    assert graph.edges == list(itertools.pairwise(ids))
    conv = graph.nodes[1]
    assert (conv.title, conv.shape, conv.params) == ("Conv2d 5x5, 6, s1", (1, 6, 28, 28), 156)
    assert sum(n.params for n in graph.nodes.values()) == 61_706
    assert collapse(graph) is graph  # small models are drawn layer by layer


def test_resnet20_every_add_has_a_skip_edge_around_its_block(traced):
    graph = traced["resnet20"]
    ranks = longest_path(graph)
    adds = [n for n in graph.of_kind("op") if n.title == "add"]
    assert len(adds) == 9
    for add in adds:
        main_path, shortcut = graph.predecessors(add.id)
        assert graph.nodes[main_path].name == f"{add.scopes[-1].name}.conv2.1"
        source = shortcut
        if graph.nodes[shortcut].title == "ZeroPadShortcut":  # option A where the shape changes
            (source,) = graph.predecessors(shortcut)
        conv1 = f"{add.scopes[-1].name}.conv1.0"
        assert conv1 in {graph.nodes[v].name for v in graph.successors(source)}
        assert ranks[add.id] - ranks[source] >= 3  # it bypasses conv1 and conv2
    drawn = layout_graph(collapse(graph))
    assert sum(route.skip for route in drawn.routes) == 7  # identity shortcuts into an add
    assert len(drawn.frames) == 9 and all(f.label.startswith("stages.") for f in drawn.frames)


def test_googlenet_inception_modules_concatenate_four_branches(traced):
    graph = collapse(traced["googlenet"])
    cats = [n for n in graph.of_kind("op") if n.title == "cat"]
    assert len(cats) == 9
    for cat in cats:
        branches = graph.predecessors(cat.id)
        assert len(branches) == 4
        assert len({p for b in branches for p in graph.predecessors(b)}) == 1  # one shared input
        assert cat.shape[1] == sum(graph.nodes[b].shape[1] for b in branches)


def test_unet_skips_join_encoder_to_decoder_across_the_u(traced):
    graph = collapse(traced["unet"])
    cats = [n for n in graph.of_kind("op") if n.title == "cat"]
    assert [c.scopes[-1].name for c in cats] == ["up.0", "up.1", "up.2", "up.3"]
    layout = layout_graph(graph)
    assert layout.u_shaped
    for level, cat in enumerate(cats):
        skip = next(p for p in graph.predecessors(cat.id) if graph.nodes[p].name.startswith("down"))
        assert graph.nodes[skip].name == f"down.{3 - level}"
        a, b = layout.boxes[skip], layout.boxes[cat.id]
        assert a.y + a.h / 2 == pytest.approx(b.y + b.h / 2)  # level: the skip runs across
        assert a.x + a.w < b.x  # encoder on the left, decoder on the right


@pytest.mark.parametrize("direction", ["TB", "LR"])
@pytest.mark.parametrize("name", SHOWN)
def test_boxes_never_overlap(traced, name, direction):
    layout = layout_graph(collapse(traced[name]), direction)
    boxes = list(layout.boxes.values())
    for i, a in enumerate(boxes):
        assert 0 <= a.x <= a.x + a.w <= layout.width
        assert 0 <= a.y <= a.y + a.h <= layout.height
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_direction_puts_the_ranks_down_or_across():
    graph = trace_graph(load_model("mlp"))
    for direction, (along, across) in {"TB": ("y", "x"), "LR": ("x", "y")}.items():
        layout = layout_graph(graph, direction)
        for u, v in graph.edges:
            a, b = layout.boxes[u], layout.boxes[v]
            assert getattr(a, along) < getattr(b, along)
            size = "w" if across == "x" else "h"
            centre = getattr(a, across) + getattr(a, size) / 2
            assert centre == pytest.approx(getattr(b, across) + getattr(b, size) / 2)
    with pytest.raises(CnnlabError, match="Received: direction='UP'"):
        layout_graph(graph, "up")


def test_depth_folds_blocks_into_one_box(traced):
    graph = collapse(traced["resnet20"], depth=3)
    blocks = graph.of_kind("group")
    model = load_model("resnet20")
    assert [b.title for b in blocks if b.token == "BasicBlock"][:4] == [
        "BasicBlock 16->16",
        "BasicBlock 16->16",
        "BasicBlock 16->16",
        "BasicBlock 16->32",
    ]
    block = model.get_submodule("stages.1.0")
    assert next(b for b in blocks if b.name == "stages.1.0").params == sum(
        p.numel() for p in block.parameters()
    )
    assert not graph.of_kind("op")  # the adds are inside the boxes
    assert collapse(traced["resnet20"], depth=0) is traced["resnet20"]
    with pytest.raises(CnnlabError, match="Received: depth=-1"):
        collapse(traced["resnet20"], depth=-1)


def test_svg_is_well_formed_with_labels_shapes_and_params(tmp_path, traced):
    path = tmp_path / "lenet5.svg"
    diagram(load_model("lenet5"), None, path)
    texts = svg_texts(path)
    for node in traced["lenet5"].nodes.values():
        assert any(node.title in t for t in texts)
        assert any(format_shape(node.shape) in t for t in texts)
        if node.params:
            assert any(format_params(node.params) in t for t in texts)
    assert "6x28x28 · 156 params" in texts


class Odd(nn.Module):
    """A user model: a residual add, a concatenation and a layer whose name needs escaping."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.odd = type("Gate<&>", (nn.ReLU,), {})()

    def forward(self, x):
        y = self.odd(x + self.conv(x))
        return torch.cat([x, y], dim=1)


def test_any_module_is_drawn_and_left_untouched(tmp_path):
    model = Odd().train()
    before = model.conv.weight.clone()
    path = tmp_path / "sub" / "odd.svg"
    diagram(model, "2x8x8", path)
    assert {"Gate<&>", "add · 2x8x8", "cat · 4x8x8"} <= set(svg_texts(path))
    assert model.training and model.conv.weight.device.type == "cpu"
    assert torch.equal(model.conv.weight, before)
    with pytest.raises(CnnlabError, match="no input_size"):
        diagram(model, None, path)


class NeedsValues(nn.Module):
    """Branches on a value: cannot run on the meta device, so it is traced for real."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) if x.sum() >= 0 else x


def test_data_dependent_forward_is_traced_on_its_device():
    graph = trace_graph(NeedsValues(), (4,))
    assert [n.title for n in graph.nodes.values()] == ["Input", "Linear 4->4", "Output"]


def test_png_is_written_and_readable(tmp_path):
    path = tmp_path / "lenet5.png"
    layout = diagram(load_model("lenet5"), (1, 32, 32), path, direction="LR")
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == (round(layout.width * 2), round(layout.height * 2))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "train-run"])
def test_cli_draws_a_run_directory(tmp_path, capsys, nested):
    config = {"model": "lenet5", "model_kwargs": {"num_classes": 7}}
    if nested:  # as `cnnlab train` writes it
        config = {"run": config, "train": {"epochs": 1}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "model.svg"
    code, stdout, _ = run(capsys, "diagram", str(tmp_path), "--out", str(out))
    assert code == 0 and "wrote" in stdout
    assert "Linear 84->7" in svg_texts(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchnet", "--out", "x.svg"], "unknown model 'nosuchnet'"),
        (["lenet5", "--out", "x.pdf"], "must end in .svg or .png. Received: 'x.pdf'"),
        (["lenet5", "--out", "x.svg", "--input", "abc"], "Received: 'abc'"),
        (
            ["lenet5", "--out", "x.svg", "--input", "1x8x8"],
            "LeNet5 cannot run on input 1x1x8x8 (it takes 1x32x32): ",
        ),
        (["lenet5", "--out", "x.svg", "--direction", "up"], "'up' is not one of"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "diagram", *args)
    assert code == 2
    assert err.startswith("error:") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_bad_run_directory(tmp_path, capsys):
    code, _, err = run(capsys, "diagram", str(tmp_path), "--out", str(tmp_path / "x.svg"))
    assert code == 2 and "must contain config.json" in err
    (tmp_path / "config.json").write_text('{"model_kwargs": {}}')
    code, _, err = run(capsys, "diagram", str(tmp_path), "--out", str(tmp_path / "x.svg"))
    assert code == 2 and '"model": NAME' in err
