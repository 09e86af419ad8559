"""Rich display in notebooks of the inspection objects: a model summary, a diagram, arithmetic
results, explain walk-throughs and filtered images each have a short ``repr`` and a
self-contained ``_repr_html_`` (or ``_repr_svg_``) holding their numbers, user strings
escaped (IPython's display protocol)."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from torch import nn

from cnnlab import arith
from cnnlab import explain as E
from cnnlab import kernels as K
from cnnlab.diagram import Diagram, Layout, diagram, layout_graph, trace_graph
from cnnlab.models import create_model
from cnnlab.summary import summarize

HOSTILE = "<b>bold</b>"
ESCAPED = "&lt;b&gt;bold&lt;/b&gt;"
SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
WINDOW = "background:#ffe08a"  # display.grid's highlight


def assert_safe(markup: str) -> None:
    """Script-free, no external reference, the hostile string never raw."""
    assert "<script" not in markup.lower()
    assert "http://" not in markup and "https://" not in markup
    assert "href=" not in markup and "<link" not in markup and "url(" not in markup
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', markup))
    assert HOSTILE not in markup and "<b>" not in markup


def assert_short(value: object) -> str:
    text = repr(value)
    assert len(text) < 200 and text.count("\n") <= 3, text
    assert "array(" not in text and "tensor(" not in text and "[[" not in text, text
    return text


class Hostile(nn.Module):
    """A model whose class and layer names would be markup if not escaped."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module(HOSTILE, nn.Conv2d(1, 4, 3))

    def forward(self, x):
        return getattr(self, HOSTILE)(x)


Hostile.__name__ = Hostile.__qualname__ = HOSTILE


def test_summary_shows_the_layer_table_and_totals():
    summary = summarize(create_model("lenet5"), (1, 32, 32))
    text = assert_short(summary)
    assert text == "ModelSummary(LeNet5, input 1x1x32x32: 61,706 params, 416,520 MACs, 12 layers)"
    html = summary._repr_html_()
    assert_safe(html)
    for piece in ("Layer (type)", "features.0 (Conv2d)", "1x6x28x28", "117,600", "61,706"):
        assert piece in html
    assert "833,040" in html and "Not counted as MACs" in html and "RF: receptive field" in html
    assert html.count("<tr>") == 1 + len(summary.rows)  # header + one row per layer


def test_summary_escapes_model_and_layer_names():
    summary = summarize(Hostile(), (1, 8, 8))
    html = summary._repr_html_()
    assert_safe(html)
    assert f"&quot;{ESCAPED}&quot;" in html  # the model's class, quoted in the title
    assert f"{ESCAPED} (Conv2d)" in html  # the layer's name
    assert_short(summary)


def test_diagram_without_a_path_writes_nothing_and_shows_its_svg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    drawn = diagram(create_model("lenet5"))
    assert list(tmp_path.iterdir()) == []
    assert isinstance(drawn, Diagram) and isinstance(drawn, Layout)
    assert assert_short(drawn) == "Diagram(LeNet5: 14 boxes, 199 x 1034 px, TB)"
    svg = drawn._repr_svg_()
    ET.fromstring(svg.encode("utf-8"))  # well-formed
    assert "6x28x28 · 156 params" in svg
    assert_safe(svg.replace(SVG_NAMESPACE, ""))  # the namespace names, it does not fetch


def test_diagram_svg_is_the_file_and_escapes_names(tmp_path):
    path = tmp_path / "hostile.svg"
    drawn = diagram(Hostile(), (1, 8, 8), path)
    assert drawn._repr_svg_() == path.read_text(encoding="utf-8")
    assert ESCAPED in drawn.svg
    assert_safe(drawn.svg.replace(SVG_NAMESPACE, ""))
    assert_short(drawn)
    laid_out = layout_graph(trace_graph(create_model("lenet5")))
    assert assert_short(laid_out) == "Layout(14 boxes, 13 routes, 199 x 1034 px, TB)"


def test_layer_arithmetic_shows_its_numbers_and_the_walk_through():
    layer = arith.conv2d("28x28x192", 5, 32, padding="same")
    assert assert_short(layer) == (
        "LayerArithmetic(conv 28x28x192 -> 28x28x32, kernel 5x5, stride 1x1: "
        "153,632 params, 120,422,400 MACs)"
    )
    html = layer._repr_html_()
    assert_safe(html)
    for piece in ("28x28x192", "2,2,2,2", "153,632", "120,422,400", "240,844,800"):
        assert piece in html
    assert "convolution: 28x28x192 -&gt; 28x28x32" in html  # the walk-through, escaped
    assert "floor((28 + 2 + 2 - 1*(5 - 1) - 1) / 1) + 1 = 28" in html
    for layer in (arith.pool2d("28x28x6", 2), arith.conv_transpose2d("3x3x1", 3, 1, 2, 1)):
        assert_short(layer)
        assert_safe(layer._repr_html_())
    assert "(3 - 1)*2 - 1 - 1 + 1*(3 - 1) + 0 + 1 = 5" in layer._repr_html_()


def test_bottleneck_comparison_shows_the_cost_table():
    result = arith.bottleneck_comparison("28x28x192", 5, 32, 16)
    assert_short(result)
    html = result._repr_html_()
    assert_safe(html)
    for piece in ("120,422,400", "12,443,648", "15,920", "9.7x fewer multiplications"):
        assert piece in html
    assert html.count("<pre") == 3  # the walk-through of each convolution


def test_receptive_fields_show_a_row_per_layer_and_stay_a_list():
    layers = [{"kernel": 5}, {"kernel": 2, "stride": 2}, {"kernel": 5}, {"kernel": 2, "stride": 2}]
    fields = arith.receptive_fields(layers)
    assert isinstance(fields, list) and fields == list(fields)
    assert (
        assert_short(fields) == "ReceptiveFields(4 layers; after the last RF 16, jump 4, start 7.5)"
    )
    assert assert_short(fields[0]) == "ReceptiveField(size=5, jump=1, start=2)"
    html = fields._repr_html_()
    assert_safe(html)
    assert html.count("<tr>") == 1 + 4 and ">16<" in html and ">7.5<" in html
    assert ">6<" in fields[1]._repr_html_()


def test_conv_walk_through_highlights_the_window_and_the_output():
    x = E.parse_volume("1,2,3;4,5,6;7,8,9")
    steps = E.explain_conv(x, np.ones((1, 2, 2)), at=(1, 1))
    assert (
        assert_short(steps)
        == "ConvSteps(input 1x3x3, kernel 1x2x2 -> output 1x2x2; output (1,1) = 28)"
    )
    html = steps._repr_html_()
    assert_safe(html)
    assert html.count(WINDOW) == 4 + 1  # the 2x2 window, the output pixel
    assert "padding 0 -&gt; 3x3" in html and "sum of products = 28" in html
    assert ">28<" in html and ">12<" in html


def test_transposed_and_pool_walk_throughs():
    t = E.explain_transposed(np.ones((3, 3)), np.ones((3, 3)), stride=2, padding=1)
    assert_short(t)
    html = t._repr_html_()
    assert_safe(html)
    assert "-&gt; 7x7" in html and "the recipe performs 225" in html and "flipped" in html
    pool = E.explain_pool(E.parse_volume("1,2,0,0;3,4,0,5;0,0,0,0;6,0,0,7"), at=(1, 1))
    assert_short(pool)
    html = pool._repr_html_()
    assert_safe(html)
    assert "output (1,1) = max of the window = 7" in html
    assert html.count(WINDOW) == 4 + 1


def test_statistics_walk_throughs():
    g = E.explain_global_pool(E.parse_volume("4,3,1,5;1,3,4,8;4,5,4,3;6,5,9,4"))
    assert assert_short(g) == "GlobalPoolSteps(input 1x4x4: max 9; mean 4.3125)"
    html = g._repr_html_()
    assert_safe(html)
    assert "global mean = 69 / 16 = 4.3125" in html and html.count(WINDOW) == 1  # the maximum
    d = E.explain_dropout(np.arange(1.0, 17.0).reshape(4, 4), 0.5, seed=0)
    assert_short(d)
    html = d._repr_html_()
    assert_safe(html)
    assert f"mask: {int(d.mask.sum())} of 16 units kept" in html
    bn = E.explain_batchnorm(E.parse_grid("1,2;3,6;5,10"))
    assert assert_short(bn) == "BatchNormSteps(3 samples x 2 features, momentum 0.1)"
    html = bn._repr_html_()
    assert_safe(html)
    assert "mean mu" in html and ">6<" in html and "running variance" in html


def decoded_images(html: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_filtered_image_shows_before_and_after_with_each_kernel():
    image = np.random.default_rng(0).integers(0, 256, (24, 30, 3)).astype(float)
    specs = ["sobel-x", "0,-1,0;-1,5,-1;0,-1,0"]
    result = K.apply_kernels(image, specs, "abs")
    assert [t for t, _ in result.panels] == [t for t, _ in K.filter_image(image, specs, "abs")]
    assert (
        assert_short(result) == "FilteredImage(24x30x3, range abs: sobel-x, 0,-1,0;-1,5,-1;0,-1,0)"
    )
    html = result._repr_html_()
    assert_safe(html)
    images = decoded_images(html)
    assert len(images) == 3
    assert all(im.size == (180, 144) for im in images)  # enlarged 6x, pixel by pixel
    assert "sobel-x" in html and ">-2<" in html and "abs, raw " in html
    assert assert_short(result.results[0]).startswith("KernelResult(sobel-x 3x3, raw ")
    big = K.apply_kernels(np.zeros((600, 400, 1)), ["identity"])
    assert [im.size for im in decoded_images(big._repr_html_())] == [(213, 320)] * 2


def test_filtered_image_escapes_kernel_labels():
    shown = np.zeros((4, 4, 1), dtype=np.uint8)
    named = K.KernelResult(HOSTILE, np.eye(3), np.zeros((4, 4, 1)), shown)
    result = K.FilteredImage(shown, (named,) * 6, "clip")
    assert "and 2 more" in assert_short(result)
    html = result._repr_html_()
    assert_safe(html)
    assert ESCAPED in html


def test_ipython_picks_the_rich_forms():
    formatters = pytest.importorskip("IPython.core.formatters")
    formatter = formatters.DisplayFormatter()
    objects = [
        summarize(create_model("lenet5"), (1, 32, 32)),
        arith.conv2d("28x28x3", 3, 8),
        E.explain_global_pool(np.ones((1, 2, 2))),
    ]
    for obj in objects:
        data, _ = formatter.format(obj)
        assert data["text/plain"] == repr(obj) and "text/html" in data
    data, _ = formatter.format(diagram(create_model("lenet5")))
    assert "image/svg+xml" in data
