"""``cnnlab studio``'s JSON API through the real Starlette app: runs, predictions with feature
maps and filters, arithmetic equal to the CLI's, the kernel playground, and hostile requests
(path tricks, bad uploads, malformed numbers), each refused with a 4xx JSON error."""

import base64
import io
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from starlette.testclient import TestClient

from cnnlab import kernels as K
from cnnlab.cli.main import main
from cnnlab.runs import load_run
from cnnlab.runs.predict import predict_files
from cnnlab.studio import create_app
from cnnlab.studio.playground import sample
from cnnlab.studio.uploads import MAX_UPLOAD_BYTES
from cnnlab.train.execution import resolve_precision

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A runs folder holding one LeNet-5 trained for an epoch, one level down (``group/``)."""
    root = tmp_path_factory.mktemp("studio") / "runs"
    code = main(
        ["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--quiet", "--out",
         str(root / "group")]
    )  # fmt: skip
    assert code == 0
    return root


@pytest.fixture(scope="module")
def run_id(runs) -> str:
    (folder,) = (runs / "group").iterdir()
    return f"group/{folder.name}"


@pytest.fixture(scope="module")
def client(runs) -> TestClient:
    return TestClient(create_app(runs), base_url="http://127.0.0.1")


def digit_png(size: int = 280) -> bytes:
    """A white stroke on black, like a 7 drawn on the page's pad."""
    image = Image.new("L", (size, size))
    draw = ImageDraw.Draw(image)
    draw.line([(60, 60), (220, 60), (120, 240)], fill=255, width=22)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(url: str) -> np.ndarray:
    """The pixels of a ``data:image/png;base64`` URL."""
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def refused(response, status: int | None = None) -> str:
    """A 4xx JSON error of one line, without a stack trace; returns its message."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == response.status_code
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_health(client, runs):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["runs_folder"] == str(runs.resolve())


def test_runs_list_finds_nested_run(client, run_id):
    (run,) = client.get("/api/runs").json()["runs"]
    assert run["id"] == run_id
    assert (run["model"], run["dataset"], run["task"]) == ("lenet5", "digits", "classification")
    assert run["predictable"] and run["has_report"] and run["epochs"] == 1
    assert 0 <= run["metrics"]["accuracy"] <= 1 and run["created"]


def test_run_detail_report_and_diagram(client, run_id):
    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["config"]["run"]["model"] == "lenet5"
    assert detail["results"]["best_epoch"] == 1
    report = client.get(f"/api/runs/{run_id}/report")
    assert report.status_code == 200 and "<h1>lenet5 on digits</h1>" in report.text
    assert "sandbox" in report.headers["content-security-policy"]
    svg = client.get(f"/api/runs/{run_id}/diagram.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text


def test_missing_diagram_is_drawn_without_writing_to_the_run(runs, run_id, tmp_path):
    copy = tmp_path / "runs" / "old"
    shutil.copytree(runs / run_id, copy)
    (copy / "figures" / "diagram.svg").unlink()
    svg = TestClient(create_app(tmp_path / "runs"), base_url="http://127.0.0.1").get(
        "/api/runs/old/diagram.svg"
    )
    assert svg.status_code == 200 and "Conv2d" in svg.text
    assert not (copy / "figures" / "diagram.svg").exists()


def test_predict_matches_cnnlab_predict(client, runs, run_id, tmp_path):
    file = tmp_path / "seven.png"
    file.write_bytes(digit_png())
    response = client.post(
        f"/api/runs/{run_id}/predict", files={"image": ("seven.png", file.read_bytes())}
    )
    body = response.json()
    assert response.status_code == 200 and body["classes"] == [str(i) for i in range(10)]
    assert sum(body["probabilities"]) == pytest.approx(1, abs=1e-5)
    best = int(np.argmax(body["probabilities"]))
    assert body["top"] == {"class": str(best), "probability": body["probabilities"][best]}
    assert "feature_maps" not in body and body["input"]["shape"] == [1, 32, 32]
    (expected,) = predict_files(load_run(runs / run_id), [file])
    assert body["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    assert body["precision"] == resolve_precision("auto", torch.device("cpu"))


def test_predict_with_feature_maps_and_filters(client, run_id):
    files = {"image": ("seven.png", digit_png())}
    body = client.post(f"/api/runs/{run_id}/predict?maps=1", files=files).json()
    maps = body["feature_maps"]
    assert [(m["layer"], m["shape"]) for m in maps] == [
        ("features.0", [6, 28, 28]),
        ("features.3", [16, 10, 10]),
    ]
    assert pixels(maps[0]["maps"][0]["image"]).shape == (28, 28)
    layers = client.get(f"/api/runs/{run_id}/filters").json()["layers"]
    assert [len(layer["filters"]) for layer in layers] == [6, 16]
    assert layers[0]["how"] == "each filter's weights"
    assert "summed over its 6 input channels" in layers[1]["how"]
    assert pixels(layers[1]["filters"][0]).shape == (5, 5, 3)


def cli_json(capsys, args: list[str]) -> dict:
    capsys.readouterr()
    assert main(["arith", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("query", "args"),
    [
        (
            "kind=conv&input=28x28x1&kernel=5&stride=1&padding=0&filters=6",
            ["conv", "--input", "28x28x1", "--kernel", "5", "--stride", "1", "--padding", "0",
             "--filters", "6"],
        ),
        (
            "kind=conv&input=6x6x4&kernel=3&stride=2&padding=same&filters=8&groups=2&no_bias=1",
            ["conv", "--input", "6x6x4", "--kernel", "3", "--stride", "2", "--padding", "same",
             "--filters", "8", "--groups", "2", "--no-bias"],
        ),
        (
            "kind=conv&input=28x28x192&kernel=5&padding=same&filters=32&bottleneck=16",
            ["conv", "--input", "28x28x192", "--kernel", "5", "--padding", "same", "--filters",
             "32", "--bottleneck", "16"],
        ),
        (
            "kind=pool&input=7x7x6&kernel=2&ceil_mode=true",
            ["pool", "--input", "7x7x6", "--kernel", "2", "--ceil-mode"],
        ),
        (
            "kind=transposed&input=3x3x1&kernel=3&stride=2&padding=1&output_padding=1&filters=1",
            ["transposed", "--input", "3x3x1", "--kernel", "3", "--stride", "2", "--padding",
             "1", "--output-padding", "1", "--filters", "1"],
        ),
    ],
)  # fmt: skip
def test_arith_is_the_cli_json(client, capsys, query, args):
    response = client.get(f"/api/arith?{query}")
    assert response.status_code == 200
    assert response.json() == cli_json(capsys, args)


def test_arith_steps_conv_and_transposed(client):
    conv = client.get("/api/arith/steps?kind=conv&input=7x7x1&kernel=3&stride=2&padding=1").json()
    assert len(conv["grid"]) == 9 and len(conv["output"]) == 4 and len(conv["windows"]) == 16
    assert conv["roles"][0][0] == "pad" and conv["roles"][1][1] == "input"
    step = conv["windows"][5]  # output (1, 1): rows 2..4, columns 2..4 of the padded grid
    assert step["at"] == [1, 1] and step["rows"] == [2, 3, 4] and step["cols"] == [2, 3, 4]
    window = np.array(conv["grid"])[2:5, 2:5]
    assert step["value"] == pytest.approx(float((window * np.array(conv["kernel"])).sum()))
    query = "kind=transposed&input=3x3&kernel=3&stride=2&padding=1"
    transposed = client.get(f"/api/arith/steps?{query}").json()
    roles = np.array(transposed["roles"])
    assert roles.shape == (7, 7) and (roles == "input").sum() == 9
    assert roles[1, 2] == "zero" and roles[0, 0] == "frame"
    assert len(transposed["output"]) == 5 and len(transposed["windows"]) == 25


def test_kernel_catalog_and_filtering_is_cnnlab_kernels(client):
    catalog = client.get("/api/kernels").json()
    assert catalog["kernels"]["sobel-x"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert {"digit", "shapes"} <= set(catalog["samples"])
    body = client.get("/api/kernels/apply?sample=shapes&kernel=sobel-x&range=abs").json()
    ((_, original), (_, expected)) = K.filter_image(sample("shapes"), ["sobel-x"], "abs")
    assert np.array_equal(pixels(body["result"]), expected[..., 0])
    assert np.array_equal(pixels(body["original"]), original[..., 0])
    custom = client.get("/api/kernels/apply", params={"kernel": "0,0,0;0,2,0;0,0,0"}).json()
    assert custom["kernel"][1][1] == 2 and custom["size"] == [96, 96, 1]


def test_kernel_on_an_upload(client):
    data = {"kernel": "gaussian-blur", "range": "clip"}
    files = {"image": ("photo.png", digit_png(400))}
    body = client.post("/api/kernels/apply", data=data, files=files).json()
    assert pixels(body["result"]).shape == (160, 160)  # shrunk to the playground's size


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/..%2f..%2fetc%2fpasswd",
        "/api/runs/%2e%2e/%2e%2e/etc/passwd",
        "/api/runs/group/%2e%2e/%2e%2e",
        "/api/runs/%2Fetc%2Fpasswd",
        "/api/runs//etc/passwd",
        "/api/runs/group/..%5C..%5Cetc",
        "/api/runs/../../etc/passwd",
        "/api/runs/no-such-run",
        "/api/runs/group",
        "/api/runs/%2e%2e/predict",
        "/api/nothing",
        "/static/../pyproject.toml",
        "/static/%2e%2e/app.py",
    ],
)
def test_path_tricks_are_refused(client, path):
    refused(client.get(path))


def test_symlinks_leading_outside_are_not_runs(runs, run_id, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(runs / run_id, outside)
    root = tmp_path / "runs"
    root.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    half = root / "half"  # a real folder whose config.json points outside
    half.mkdir()
    (half / "checkpoints").mkdir()
    (half / "config.json").symlink_to(outside / "config.json")
    client = TestClient(create_app(root), base_url="http://127.0.0.1")
    assert client.get("/api/runs").json()["runs"] == []
    refused(client.get("/api/runs/linked"), 404)
    refused(client.get("/api/runs/half/report"), 404)
    refused(client.post("/api/runs/linked/predict", files={"image": ("a.png", digit_png())}), 404)


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"", 400),
        (b"this is not an image", 415),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, 415),  # a PNG signature, then garbage
        (b"x" * (MAX_UPLOAD_BYTES + 1), 413),
    ],
)
def test_bad_uploads(client, run_id, content, status):
    files = {"image": ("upload.png", content, "image/png")}
    refused(client.post(f"/api/runs/{run_id}/predict", files=files), status)
    refused(client.post("/api/kernels/apply", files=files), status)


def test_oversized_bodies_and_forms(client, run_id):
    url = f"/api/runs/{run_id}/predict"
    huge = {"image": ("big.png", b"\0" * (MAX_UPLOAD_BYTES + 200_000))}
    assert "at most" in refused(client.post(url, files=huge), 413)
    refused(client.post(url, content=b"image=x", headers={"content-length": "nope"}), 400)
    refused(client.post(url, data={"image": "not a file"}), 400)
    refused(client.post(url, data={"other": "field"}), 400)
    broken = {"content-type": "multipart/form-data; boundary=x"}
    refused(client.post(url, content=b"--x\r\nbroken", headers=broken), 400)
    refused(client.post(f"{url}?invert=maybe", files={"image": ("a.png", digit_png())}), 400)


def test_huge_image_dimensions(client, run_id):
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, format="PNG")  # small file, 64 M pixels
    files = {"image": ("wide.png", buffer.getvalue())}
    assert "pixels" in refused(client.post(f"/api/runs/{run_id}/predict", files=files), 413)


@pytest.mark.parametrize(
    "query",
    [
        "kind=conv&input=28x28x1&kernel=5&filters=abc",
        "kind=conv&input=28xx28&kernel=5&filters=6",
        "kind=conv&input=28x28x1&kernel=-1&filters=6",
        "kind=conv&input=28x28x1&kernel=5&stride=0&filters=6",
        "kind=conv&input=28x28x1&kernel=5&filters=6&groups=1.5",
        "kind=conv&input=28x28x1&kernel=5&filters=6&padding=lots",
        "kind=conv&input=28x28x1&kernel=5&filters=6&padding=³",  # isdigit() but not int()
        "kind=conv&input=28x28x1&kernel=5&filters=³",
        "kind=conv&input=28x28x1&kernel=5",
        "kind=conv&kernel=5&filters=6",
        "kind=conv&input=4x4x1&kernel=9&filters=6",
        "kind=conv&input=28x28x1&kernel=5&filters=99999999999999999999",
        "kind=pool&input=28x28x1&kernel=2&ceil_mode=perhaps",
        "kind=transposed&input=3x3x1&kernel=3&stride=2&output_padding=2&filters=1",
        "kind=dense&input=28x28x1&kernel=5&filters=6",
    ],
)
def test_malformed_arithmetic(client, query):
    refused(client.get(f"/api/arith?{query}"))


@pytest.mark.parametrize(
    "query",
    [
        "kind=conv&input=100x100&kernel=3",
        "kind=conv&input=8x8&kernel=3&padding=1000",
        "kind=conv&input=8&kernel=3",
        "kind=conv&input=8x8&kernel=3&stride=1000000",
        "kind=pool&input=8x8&kernel=2&mode=median",
        "kind=transposed&input=3x3&kernel=3&dilation=2",
        "kind=pool&input=8x8&kernel=2&padding=1x³",
    ],
)
def test_malformed_steps(client, query):
    refused(client.get(f"/api/arith/steps?{query}"))


@pytest.mark.parametrize(
    "params",
    [
        {"kernel": "1,2;3"},
        {"kernel": "no-such-kernel"},
        {"kernel": "1,nan;0,0"},
        {"kernel": "1e400,0;0,0"},
        {"kernel": ";".join([",".join(["1"] * 12)] * 12)},
        {"kernel": "1," * 2000},
        {"kernel": "sharpen", "range": "loud"},
        {"kernel": "sharpen", "sample": "../../etc/passwd"},
        {"kernel": "sharpen", "sum_channels": "sometimes"},
    ],
)
def test_malformed_kernels(client, params):
    refused(client.get("/api/kernels/apply", params=params))


def test_foreign_host_and_wrong_method(runs):
    client = TestClient(create_app(runs), base_url="http://rebound.example")
    assert "127.0.0.1" in refused(client.get("/api/health"), 400)
    local = TestClient(create_app(runs), base_url="http://localhost:8765")
    refused(local.delete("/api/health"), 405)
    refused(local.put("/api/kernels/apply"), 405)
    for method, path in (("GET", "/api/runs/x/predict"), ("POST", "/api/runs/x/filters")):
        response = local.request(method, path)  # not a run named "x/predict"
        assert refused(response, 405) and response.headers["allow"]


def test_cli_refuses_a_taken_port_and_warns_off_loopback(capsys, monkeypatch, runs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["studio", "--port", port]) == 2
    assert "pick another --port" in capsys.readouterr().err
    served = {}
    monkeypatch.setattr("uvicorn.Server.run", lambda server, sockets: served.update(s=sockets))
    assert main(["studio", "--runs", str(runs), "--host", "0.0.0.0", "--port", port]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    (listener,) = served["s"]
    assert listener.getsockname() == ("0.0.0.0", int(port))
    assert listener.proto == socket.IPPROTO_TCP  # so that asyncio turns Nagle off
    listener.close()
