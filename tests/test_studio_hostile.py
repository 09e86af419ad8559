"""``cnnlab studio`` against hostile runs and requests: a generated corpus of damaged copies of
a real run, where every endpoint answers a normal answer or one 4xx JSON line naming the
problem (never a 500, never a hung thread); cross-site requests; the run index following
changes; one run's slow load holding back no other; uploads converted strip by strip as whole
images are; and heavy requests bounded in time and memory in a real server process."""

import faulthandler
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_safetensors
from starlette.testclient import TestClient

from cnnlab.cli.main import main
from cnnlab.data.images import convert_mode
from cnnlab.runs.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.runs.layout import RunLayout
from cnnlab.studio import cache, create_app, index, uploads
from cnnlab.studio.catalog import RunEntry
from damage import BROKEN_JSON, FORGED_WEIGHTS

pytestmark = pytest.mark.slow
ENDPOINTS = ("", "/report", "/diagram.svg", "/filters", "/history", "/predict?maps=1")
KINDS = {"": "application/json", "/report": "text/html", "/diagram.svg": "image/svg+xml"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "trained"
    args = ["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--quiet", "--out"]
    assert main([*args, str(out)]) == 0
    (run,) = out.iterdir()
    return run


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


DIGIT = png(Image.new("L", (28, 28), 40))


# --- the corpus: each entry damages a fresh copy of the trained run ------------------------


def _put(path: str, value, config):
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value
    return config


def _drop(key: str, config):
    config.pop(key)
    return config


def _wrong(value):
    """A value of another JSON type than ``value``."""
    return {dict: "text", list: {"x": 1}, str: 12345}.get(type(value), [1, 2])


ABSURD = {
    "run.model": [5, None, "no-such-model", "os:system", "torch.nn:Identity"],
    "run.model_kwargs": [[1, 2], "x", {"bogus": 1}],
    "run.model_kwargs.num_classes": [-3, 1e12, 10**12, 0, "ten", 3],
    "run.model_kwargs.in_channels": [3, 0],
    "run.model_folder": [5, "/nonexistent"],
    "input_spec.size": [[100000, 100000], [0, 0], [-1, 5], "32x32", [32], [1e9, 1e9], [4, 4]],
    "input_spec.channels": [0, 3, -1, 10**9, "1", 1.5],
    "input_spec.kind": ["video", "tokens", 5],
    "input_spec.mean": [[1e308], "x", [0.5]],
    "input_spec.std": [[0.0], [float("nan")]],
    "input_spec.bogus": [1],
    "classes": [5, [], list(range(10)), ["a"], [str(i) for i in range(200_000)]],
    "task": ["segmentation", "regression", 5],
    "created": [5, [1]],
}
RAW = {**BROKEN_JSON, "huge": b'{"a": 1}' + b" " * (17 << 20)}


def _edit_json(file: str, edit, run: Path) -> None:
    path = run / file
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _raw(file: str, payload: bytes, run: Path) -> None:
    (run / file).write_bytes(payload)


def _special(file: str, how: str, run: Path) -> None:
    """``file`` made a FIFO, a folder, or a link out of the runs folder to a valid copy."""
    path = run / file
    path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "dir":
        path.mkdir()
    else:
        outside = run.parent.parent / "outside" / run.name / file
        outside.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run.parent.parent / "pristine" / file, outside)
        path.symlink_to(outside)


def _best(change, run: Path) -> None:
    """The best checkpoint's bytes through ``change``."""
    file = RunLayout(run).best
    file.write_bytes(change(file.read_bytes()))


def _forged(change, run: Path) -> None:
    """The best checkpoint rewritten whole (valid checksum) as ``change(tensors, meta)``."""
    file = RunLayout(run).best
    save_checkpoint(file, *change(*load_checkpoint(file)))


def _header(metadata: dict, data: bytes) -> bytes:
    return save_safetensors(load_bytes(data), metadata=metadata)


def _without(key: str, tensors, meta):
    return ({k: v for k, v in d.items() if k != key} for d in (tensors, meta))


def corpus(config: dict) -> dict:
    """Every damage, by name: a function of the run folder."""
    layout = RunLayout(Path())
    cfg, met = layout.config.name, layout.metrics.name
    best, last = (f"{layout.checkpoints.name}/{p.name}" for p in (layout.best, layout.last))
    svg, report = f"{layout.figures.name}/{layout.diagram_figure.name}", layout.report_html.name
    cases = {}
    for key, value in config.items():
        cases[f"config-no-{key}"] = partial(_edit_json, cfg, partial(_drop, key))
        cases[f"config-{key}-wrong"] = partial(_edit_json, cfg, partial(_put, key, _wrong(value)))
    for path, values in ABSURD.items():
        for i, value in enumerate(values):
            cases[f"config-{path}-{i}"] = partial(_edit_json, cfg, partial(_put, path, value))
    cases["config-a-list"] = partial(_edit_json, cfg, lambda c: [c])
    for name, payload in RAW.items():
        cases[f"config-{name}"] = partial(_raw, cfg, payload)
        cases[f"metrics-{name}"] = partial(_raw, met, payload)
    wrong = b'{"validation": [1], "best": {"accuracy": "x"}, "epochs_run": "1", "monitor": 3}'
    cases["metrics-wrong-types"] = partial(_raw, met, wrong)
    history = layout.history.name
    cases["history-not-utf8"] = partial(_raw, history, b"\xff\xfe\x00")
    cases["history-text"] = partial(_raw, history, b"epoch,loss\n1,abc\n")
    cases["history-ragged"] = partial(_raw, history, b"epoch,loss\n1,2,3\n")
    cases["history-wide"] = partial(_raw, history, ",".join(map(str, range(99))).encode())
    cases["history-huge"] = partial(_raw, history, b"epoch\n" + b"1\n" * (3 << 20))
    cases["history-bad-quote"] = partial(_raw, history, b'epoch\n"1\x00"\n')
    cases["report-not-utf8"] = partial(_raw, report, b"\xff\xfe<h1>")
    cases["diagram-not-utf8"] = partial(_raw, svg, b"<svg>\xff\xfe</svg>")
    for file in (best, report, svg, met, history):
        for how in ("fifo", "dir", "link"):
            cases[f"{Path(file).name}-{how}"] = partial(_special, file, how)
    for how in ("fifo", "dir", "link"):  # the lock probe opens it: never a hang, never an error
        cases[f"lock-{how}"] = partial(_special, layout.lock.name, how)
    cases["diagram-missing"] = lambda run: (run / svg).unlink()
    cases["best-missing"] = lambda run: (run / best).unlink()
    cases["no-checkpoints"] = lambda run: [(run / f).unlink() for f in (best, last)]
    for name, change in {
        "truncated": lambda b: b[: len(b) // 2],
        "empty": lambda b: b"",
        "garbage": lambda b: os.urandom(len(b)),
        "header-huge": lambda b: b"\xff" * 8 + b[8:],
        "bit-flip": lambda b: b[:-100] + bytes([b[-100] ^ 1]) + b[-99:],
        "forged-format": partial(_header, {"format": "x", "meta": "{}"}),
        "meta-not-json": partial(_header, {"format": "cnnlab-checkpoint-1", "meta": "{"}),
    }.items():
        cases[f"best-{name}"] = partial(_best, change)
    cases["meta-no-epoch"] = partial(_forged, partial(_without, "epoch"))
    cases["meta-epoch-text"] = partial(_forged, lambda t, m: (t, {**m, "epoch": "one"}))
    cases["meta-a-list"] = partial(_forged, lambda t, m: (t, [1, 2]))
    for name, change in {
        **FORGED_WEIGHTS,
        "flat": lambda v: v.flatten(),
        "huge": lambda v: v * 1e30,
    }.items():
        each = partial(lambda change, t, m: ({k: change(v) for k, v in t.items()}, m), change)
        cases[f"weights-{name}"] = partial(_forged, each)
    cases["weights-one-missing"] = partial(_forged, partial(_without, "model.features.0.bias"))
    cases["weights-extra"] = partial(_forged, lambda t, m: ({**t, "model.x": torch.zeros(3)}, m))
    return cases


@pytest.fixture(scope="module")
def damaged(trained, tmp_path_factory) -> tuple[Path, list[str]]:
    """A runs folder of damaged copies, one per :func:`corpus` entry, plus one whose folder
    name is not UTF-8."""
    top = tmp_path_factory.mktemp("corpus")
    shutil.copytree(trained, top / "pristine")
    cases = corpus(json.loads(RunLayout(trained).config.read_text()))
    for name, damage in cases.items():
        shutil.copytree(trained, top / "runs" / name)
        damage(top / "runs" / name)
    shutil.copytree(trained, os.fsdecode(os.fsencode(top / "runs") + b"/name-\xff"))
    return top / "runs", sorted(cases)


def checked(response, endpoint: str) -> int:
    """A normal answer of the endpoint's type, or a one-line 4xx JSON error."""
    assert response.status_code < 500, response.text[:300]
    assert "Traceback" not in response.text
    kind = response.headers["content-type"]
    if response.status_code >= 400:
        body = response.json()
        assert kind.startswith("application/json") and body["status"] == response.status_code
        assert body["error"] and "\n" not in body["error"]
    else:
        assert kind.startswith(KINDS.get(endpoint, "application/json")), kind
    return response.status_code


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_damaged_runs_answer_4xx_never_500(damaged):
    root, names = damaged
    faulthandler.dump_traceback_later(600, exit=True)  # a FIFO read would hang for ever
    try:
        client = TestClient(create_app(root), base_url="http://127.0.0.1")
        listed = {run["id"]: run for run in client.get("/api/runs").json()["runs"]}
        statuses = {}
        for name in names:
            for endpoint in ENDPOINTS:
                url = f"/api/runs/{name}{endpoint}"
                if endpoint.startswith("/predict"):
                    response = client.post(url, files={"image": ("d.png", DIGIT)})
                else:
                    response = client.get(url)
                statuses[name, endpoint] = checked(response, endpoint)
            compared = client.get("/api/compare", params=[("runs", name), ("runs", "name-\ufffd")])
            statuses[name, "compare"] = checked(compared, "")
    finally:
        faulthandler.cancel_dump_traceback_later()
    count = len(statuses) + 2  # and the list, and the run named in bytes that are not UTF-8
    print(f"\ncorpus: {len(names) + 1} damaged runs, {count} requests, none a 5xx")
    assert "name-\ufffd" in listed and len(names) >= 120
    assert client.get("/api/runs/name-\ufffd").json()["model"] == "lenet5"
    assert "UTF-8" in listed["config-not-utf8"]["error"]
    assert not listed["config-input_spec.size-0"]["predictable"]
    serving = {"best-missing"}  # last.safetensors serves; other dtypes, text epochs refused
    for name in {n for n in names if n.startswith(("best", "meta-", "weights-"))} - serving:
        if name != "weights-huge":  # logits overflow: probabilities are null, not an error
            assert statuses[name, "/predict?maps=1"] == 422, name
    for name in serving:
        assert statuses[name, "/predict?maps=1"] == 200, name
    for name in ("config-huge", "config-nested", "config-deep", "metrics-not-utf8"):
        assert "error" in listed[name] and statuses[name, ""] == 200
        assert statuses[name, "compare"] == 422
    for name in (n for n in names if n.startswith("history")):
        assert statuses[name, "/history"] == statuses[name, "compare"] == 422, name
    for name in (n for n in names if n.startswith("lock-")):
        assert statuses[name, "/history"] == statuses[name, "compare"] == 200, name


# --- cross-site requests, methods, the run index --------------------------------------------


def test_cross_site_requests_are_refused(trained):
    client = TestClient(create_app(trained.parent), base_url="http://127.0.0.1:8765")
    url, upload = f"/api/runs/{trained.name}/predict", {"image": ("d.png", DIGIT)}
    for headers in (
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:9999"},  # another local server is another site
        {"origin": "https://127.0.0.1:8765"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:8765"},
    ):
        response = client.post(url, files=upload, headers=headers)
        assert response.status_code == 403 and "cross-site" in response.json()["error"], headers
    steps = "/api/arith/steps?kind=conv&input=7x7&kernel=3"
    assert client.get(steps, headers={"sec-fetch-site": "cross-site"}).status_code == 403
    for headers in (
        {},  # curl, a script
        {"origin": "http://127.0.0.1:8765", "sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},  # typed in the address bar
    ):
        assert client.post(url, files=upload, headers=headers).status_code == 200, headers
    assert client.get("/", headers={"sec-fetch-site": "cross-site"}).status_code == 200


def eventually(predicate, seconds: float = 2.5) -> float:
    """Seconds until ``predicate()`` holds; fails after ``seconds``."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < seconds, "the index did not follow the change"
        time.sleep(0.05)
    return time.monotonic() - start


def test_the_index_follows_new_removed_and_changed_runs(trained, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    shutil.copytree(trained, root / "a")
    client = TestClient(create_app(root), base_url="http://127.0.0.1")
    walks = []
    original = index.walk
    monkeypatch.setattr(index, "walk", lambda folder: walks.append(1) or original(folder))

    def ids() -> list[str]:
        return [run["id"] for run in client.get("/api/runs").json()["runs"]]

    assert ids() == ["a"]
    for _ in range(30):
        assert client.get("/api/runs/a").status_code == 200
    assert len(walks) == 1  # one walk, then look-ups
    shutil.copytree(trained, root / "group" / "deep" / "b")
    eventually(lambda: ids() == ["a", "group/deep/b"])
    shutil.copytree(trained, root / "group" / "deep" / "c")  # two levels down
    eventually(lambda: "group/deep/c" in ids())
    shutil.rmtree(root / "a")
    eventually(lambda: "a" not in ids())
    assert client.get("/api/runs/a").status_code == 404
    (root / "group/deep/c/checkpoints").rename(root / "group/deep/c/old")  # no longer a run
    eventually(lambda: ids() == ["group/deep/b"])


def test_a_slow_load_holds_back_no_other_run(monkeypatch, tmp_path):
    release = threading.Event()
    monkeypatch.setattr(cache, "load", lambda entry: entry.id == "slow" and release.wait(20))
    models = cache.ModelCache()
    slow = threading.Thread(target=models.get, args=(RunEntry("slow", tmp_path / "slow"),))
    slow.start()
    time.sleep(0.2)  # the slow load now holds its lock
    start = time.monotonic()
    models.get(RunEntry("fast", tmp_path / "fast"))
    release.set()
    slow.join(timeout=20)
    assert time.monotonic() - start < 5 and not slow.is_alive()


# --- uploads: strips convert as the whole image does -----------------------------------------


def _image(mode: str) -> Image.Image:
    rng = np.random.default_rng(0)
    dtypes = {"I;16": np.uint16, "I": np.int32, "F": np.float32}
    if mode in dtypes:
        return Image.fromarray((rng.random((53, 61)) * 3000 + 100).astype(dtypes[mode]))
    rgba = Image.fromarray(rng.integers(0, 256, (53, 61, 4), dtype=np.uint8), "RGBA")
    image = rgba.convert("RGB").convert(mode) if mode in ("P", "1", "CMYK") else rgba.convert(mode)
    if mode == "P":
        image.info["transparency"] = 3
    return image


@pytest.mark.parametrize("mode", ["1", "L", "P", "I;16", "I", "F", "RGB", "RGBA", "LA", "CMYK"])
def test_strips_convert_as_the_whole_image_does(mode, monkeypatch):
    monkeypatch.setattr(uploads, "STRIP_BYTES", 4 * 61 * 5)  # strips of a few rows
    image = _image(mode)
    for target in ("L", "RGB"):
        whole = convert_mode(image, target)
        for factor in (1, 3):
            expected = whole.reduce(factor) if factor > 1 else whole
            result = uploads.converted(image, target, factor)
            assert np.array_equal(np.asarray(result), np.asarray(expected)), (target, factor)


# --- heavy requests against a real server process: time and memory ---------------------------


@contextmanager
def served(root: Path, lifetime: float = 300):
    """``cnnlab studio`` on a free port in its own process (4 GB address space, ``lifetime``
    seconds of CPU at most, whatever happens to the tests): its pid and a client."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        resource.setrlimit(resource.RLIMIT_CPU, (int(lifetime), int(lifetime)))

    args = [sys.executable, "-m", "cnnlab", "studio", "--runs", str(root), "--port", "0"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, preexec_fn=limits)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())[0]
        client = httpx.Client(base_url=url)
        eventually(lambda: process.poll() is None and _up(client), seconds=60)
        yield process.pid, client
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/api/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def memory(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak) of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) // 1024
    raise AssertionError(field)


def test_heavy_requests_are_quick_and_small(trained):
    deep = png(Image.fromarray(np.tile(np.arange(6300, dtype=np.uint16) * 10, (6300, 1))))
    bomb = png(Image.new("RGBA", (5100, 5100)))  # 26 M pixels: 104 MB decoded
    steps, run = "/api/arith/steps?kind=", f"/api/runs/{trained.name}"
    arith = "/api/arith?input=99999999x99999999x9999&kernel=9&filters=999999"
    heavy = [  # (what, method, path, upload, status, seconds)
        ("k32 s32", "GET", f"{steps}transposed&input=32x32&kernel=32&stride=32", None, 422, 1),
        ("steps k32 pad 32", "GET", f"{steps}conv&input=32x32&kernel=32&padding=32", None, 422, 1),
        ("steps 9216 windows", "GET", f"{steps}conv&input=32x32&kernel=1&padding=32", None, 422, 1),
        ("steps largest", "GET", f"{steps}transposed&input=32x32&kernel=3&stride=2", None, 200, 2),
        ("arith huge", "GET", arith, None, 200, 1),
        ("predict 16-bit 6300^2", "POST", f"{run}/predict?maps=1", deep, 200, 2),
        ("kernels 16-bit 6300^2", "POST", "/api/kernels/apply", deep, 200, 2),
        ("predict 104 MB decoded", "POST", f"{run}/predict", bomb, 413, 1),
    ]
    with served(trained.parent) as (pid, client):
        client.post(f"{run}/predict?maps=1", files={"image": ("d.png", DIGIT)})
        client.post("/api/kernels/apply", files={"image": ("d.png", DIGIT)})
        client.get(f"{steps}conv&input=7x7&kernel=3")
        before = memory(pid, "VmRSS")
        with suppress(OSError):  # the peak starts again from here (else: a higher bound)
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        for what, method, path, upload, status, seconds in heavy:
            files = None if upload is None else {"image": ("x.png", upload)}
            start = time.monotonic()
            response = client.request(method, path, files=files, timeout=60)
            took = time.monotonic() - start
            print(f"\n{what}: {response.status_code} in {took:.3f} s, {len(response.content):,} B")
            assert response.status_code == status, response.text[:200]
            assert took < seconds, what
        peak = memory(pid, "VmHWM")
    print(f"server memory: {before} MiB before, peak {peak} MiB (+{peak - before})")
    assert peak - before < 200
