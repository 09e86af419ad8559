"""``cnnlab studio``'s run comparison through the real Starlette app: ``/api/compare`` (curves,
final metrics with the best marked, the settings that differ) and ``/api/runs/{id}/history``
(what the page polls while a run trains), bounded, and refusing bad requests with one 4xx
JSON line naming the run."""

import json
import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cnnlab.cli.main import main
from cnnlab.runs.guard import RunLock
from cnnlab.runs.layout import RunLayout
from cnnlab.studio import compare, create_app
from cnnlab.train.history import History

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "trained"
    args = ["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--quiet", "--out"]
    assert main([*args, str(out)]) == 0
    (run,) = out.iterdir()
    return run


def edit(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


@pytest.fixture
def runs(trained, tmp_path) -> Path:
    """Three copies of one run under ``group/``: ``b`` with a larger learning rate and better
    results, ``c`` still in its first epoch (no history, no metrics yet)."""
    root = tmp_path / "runs"
    for name in "abc":
        shutil.copytree(trained, root / "group" / name)
    b, c = RunLayout(root / "group" / "b"), RunLayout(root / "group" / "c")
    edit(b.config, lambda config: config["train"].update(lr=0.01) or config.update(created="x"))
    edit(b.metrics, lambda metrics: metrics["validation"].update(accuracy=0.99, loss=0.01))
    c.metrics.unlink()
    c.history.unlink()
    return root


@pytest.fixture
def client(runs) -> TestClient:
    return TestClient(create_app(runs), base_url="http://127.0.0.1")


def ask(client: TestClient, *ids: str):
    return client.get("/api/compare", params=[("runs", run_id) for run_id in ids])


def refused(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and "\n" not in body["error"]
    return body["error"]


def test_compare_curves_metrics_and_differences(client, runs):
    body = ask(client, "group/a", "group/b", "group/c", "group/a").json()  # a repeat is ignored
    a, _, c = body["runs"]
    assert [run["id"] for run in body["runs"]] == ["group/a", "group/b", "group/c"]
    assert (a["model"], a["dataset"], a["running"]) == ("lenet5", "digits", False)
    expected = History.from_csv(RunLayout(runs / "group/a").history).history  # repr: exact
    assert a["history"] == {"rows": 2, "columns": expected}
    assert a["history"]["columns"]["epoch"] == [1, 2] and isinstance(a["stamp"], str)
    assert c["history"] == {"rows": 0, "columns": {}} and c["stamp"] is None

    rows = {row["name"]: row for row in body["metrics"]}
    assert list(rows)[:2] == ["loss", "accuracy"] and list(rows)[-2:] == ["epochs", "seconds"]
    assert rows["accuracy"]["values"][1:] == [0.99, None] and rows["accuracy"]["best"] == [1]
    assert (rows["loss"]["better"], rows["loss"]["best"]) == ("lower", [1])
    assert (rows["accuracy"]["better"], rows["epochs"]["better"]) == ("higher", None)
    assert rows["epochs"]["values"] == [2, 2, None] and rows["epochs"]["best"] == []

    differ = body["config"]["differ"]  # "created" differs too, and is left aside
    assert differ == [{"key": "train.lr", "values": ["0.001", "0.01", "0.001"]}]
    assert body["config"]["same"] > 50


def test_settings_are_flattened_to_dotted_keys():
    config = {"train": {"lr": 0.1, "betas": [0.9, 0.99]}, "run": {"model_kwargs": {}}}
    assert list(compare.flatten(config)) == [
        ("train.lr", 0.1),
        ("train.betas", [0.9, 0.99]),
        ("run.model_kwargs", {}),
    ]
    a, b = {"train.lr": "0.1", "seed": "0"}, {"train.lr": "0.2", "new": "1", "seed": "0"}
    assert compare.config_diff([a, b]) == {
        "differ": [
            {"key": "train.lr", "values": ["0.1", "0.2"]},
            {"key": "new", "values": [None, "1"]},
        ],
        "same": 1,
    }


def test_a_run_is_training_while_its_lock_is_held(client, runs):
    layout = RunLayout(runs / "group" / "a")
    before = client.get("/api/runs/group/a/history").json()
    assert before["running"] is False and before["history"]["rows"] == 2
    lock = RunLock(layout.lock)
    lock.acquire()
    try:
        assert client.get("/api/runs/group/a/history").json()["running"] is True
        assert [run["running"] for run in ask(client, "group/a", "group/b").json()["runs"]] == [
            True,
            False,
        ]
        history = History.from_csv(layout.history)
        history.append({**history.rows[-1], "epoch": 3})
        history.to_csv(layout.history)
        after = client.get("/api/runs/group/a/history").json()
        assert after["stamp"] != before["stamp"] and after["history"]["rows"] == 3
    finally:
        lock.release()
    assert client.get("/api/runs/group/a/history").json()["running"] is False


def test_long_histories_are_thinned(client, runs):
    history = RunLayout(runs / "group" / "a").history
    history.write_text("epoch,loss,val_loss\n" + "".join(f"{e},{1 / e},\n" for e in range(1, 2001)))
    body = client.get("/api/runs/group/a/history").json()["history"]
    epochs = body["columns"]["epoch"]
    assert body["rows"] == 2000 and len(epochs) == compare.MAX_POINTS
    assert (epochs[0], epochs[-1]) == (1, 2000) and epochs == sorted(epochs)
    assert body["columns"]["loss"][-1] == pytest.approx(1 / 2000)
    assert set(body["columns"]["val_loss"]) == {None}  # empty cells


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ([], 400, "name the runs"),
        ([f"r{i}" for i in range(13)], 422, "at most 12 runs"),
        (["group/a", "nope"], 404, "'nope'"),
        (["group/../x"], 400, "a run id is a folder path"),
    ],
)
def test_bad_requests(client, query, status, says):
    assert says in refused(ask(client, *query), status)


@pytest.mark.parametrize(
    ("file", "payload", "says"),
    [
        ("history", b"epoch,loss\n1,abc\n", "line 2, column 'loss' is not a number: 'abc'"),
        ("history", b"epoch,loss\n1,0.5,7\n", "line 2 has more cells than its header"),
        ("history", ",".join(f"c{i}" for i in range(40)).encode(), "40 columns"),
        ("history", b"epoch\n" + b"1\n" * (1 << 20), "the studio reads at most 2,097,152"),
        ("history", b"\xff\xfe", "not UTF-8"),
        ("config", b"[1]", "must hold a JSON object"),
        ("config", json.dumps({f"k{i}": i for i in range(6000)}).encode(), "over 5,000 settings"),
        ("metrics", b"{", "not valid JSON"),
    ],
)
def test_broken_runs_are_named(client, runs, file, payload, says):
    getattr(RunLayout(runs / "group" / "b"), file).write_bytes(payload)
    error = refused(ask(client, "group/a", "group/b"), 422)
    assert error.startswith("run 'group/b': ") and says in error, error
    if file == "history":
        assert refused(client.get("/api/runs/group/b/history"), 422) == error
