"""Every damaged run folder is one clear line: a generated corpus of damaged copies of one real
run, each given to ``predict``, ``evaluate``, ``export``, ``diagram`` and ``train --resume``
through the CLI's ``main()``. A call succeeds where the damage is harmless (a missing optional
section, a damaged metrics.json, the best checkpoint gone while the last is whole); otherwise
it returns a non-zero code with exactly one ``error: `` line on stderr, never a traceback.

The corpus runs in one child process whose address space is capped at 4 GB: a case that
allocated before it was refused (an input of 100000 x 100000 pixels asks for 40 GB) fails the
test, not the machine. ``python tests/test_run_corpus.py TRAINED WORK RESULTS`` is that child.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import shutil
import subprocess
import sys
import traceback
from functools import partial
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from cnnlab.cli.main import main
from cnnlab.runs.checkpoint import FORMAT, tensor_digest
from cnnlab.runs.layout import RunLayout
from cnnlab.runs.schema import MAX_CLASSES, REQUIRED
from damage import BROKEN_JSON, FORGED_WEIGHTS

pytestmark = pytest.mark.slow
CAP = 4 << 30
TRAIN = ["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--quiet",
         "--train-split", "train[:256]", "--val-split", "test[:64]"]  # fmt: skip
COMMANDS = ("predict", "evaluate", "export", "diagram", "resume")
ALL, NONE = frozenset(COMMANDS), frozenset()
DIAGRAM = frozenset({"diagram"})  # the diagram reads config.json alone, no checkpoint
NOT_RESUME = ALL - {"resume"}  # what only resuming reads (the optimizer, the RNG states)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "trained"
    assert main([*TRAIN, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


# --- the damages: each a function of a fresh copy of the trained run ------------------------


def _edit(change, run: Path) -> None:
    file = RunLayout(run).config
    file.write_text(json.dumps(change(json.loads(file.read_text()))))


def _put(path: str, value, config: dict) -> dict:
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value
    return config


def _drop(key: str, config: dict) -> dict:
    del config[key]
    return config


def _wrong(value):
    """A value of another JSON type than ``value``."""
    return {dict: "text", list: {"x": 1}, str: 12345}.get(type(value), [1, 2])


def _raw(file: str, payload: bytes, run: Path) -> None:
    getattr(RunLayout(run), file).write_bytes(payload)


def _forge(change, run: Path) -> None:
    """Both checkpoints rewritten as ``change(tensors, meta)`` with the header's checksum
    recomputed as ``cnnlab.runs.checkpoint`` does: the integrity check passes, so only the
    schema and the weight checks can refuse them."""
    layout = RunLayout(run)
    for file in (layout.best, layout.last):
        payload = file.read_bytes()
        header = json.loads(payload[8 : 8 + int.from_bytes(payload[:8], "little")])
        tensors, meta = change(load_bytes(payload), json.loads(header["__metadata__"]["meta"]))
        metadata = {"format": FORMAT, "meta": json.dumps(meta), "sha256": tensor_digest(tensors)}
        file.write_bytes(save_bytes(tensors, metadata=metadata))


def _meta(change, tensors: dict, meta: dict) -> tuple[dict, object]:
    return tensors, change(meta)


def _without(key: str, meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != key}


def _weights(change, tensors: dict, meta: dict) -> tuple[dict, dict]:
    def weight(name: str, value: torch.Tensor) -> bool:
        return name.startswith("model.") and value.is_floating_point()

    return {k: change(v) if weight(k, v) else v for k, v in tensors.items()}, meta


def _checkpoints(change, run: Path) -> None:
    layout = RunLayout(run)
    for file in (layout.best, layout.last):
        change(file)


ABSURD = {  # a config value -> [(value, the commands that still work)]
    "input_spec.size": [([100000, 100000], NONE), ([0, 0], NONE), ([-1, 5], NONE),
                        ("32x32", NONE), ([32], NONE), ([1e9, 1e9], NONE),
                        ([16384, 16384], NONE), ([4, 4], NONE)],
    "input_spec.channels": [(0, NONE), (3, NONE), (-1, NONE), (10**9, NONE), ("1", NONE),
                            (1.5, NONE)],
    "input_spec.kind": [("video", NONE), ("tokens", NONE), (5, NONE)],
    "input_spec.mean": [([1e308], NONE), ("x", NONE), ([0.5, 0.5], NONE), ([0.5], ALL)],
    "input_spec.std": [([0.0], NONE), ([float("nan")], NONE)],
    "input_spec.bogus": [(1, NONE)],
    "classes": [(5, NONE), ([], ALL), (list(range(10)), NONE), (["a"], ALL),
                ([str(i) for i in range(MAX_CLASSES + 1)], NONE)],
    "task": [("segmentation", NONE), ("regression", NONE), (5, NONE)],
    "run.model": [(5, NONE), (None, NONE), ("no-such-model", NONE), ("", NONE)],
    "run.model_kwargs": [([1, 2], NONE), ("x", NONE), ({"bogus": 1}, NONE)],
    "run.model_kwargs.num_classes": [(-3, NONE), (1e12, NONE), (10**12, NONE), (0, NONE),
                                     ("ten", NONE), (3, DIAGRAM), (MAX_CLASSES, DIAGRAM)],
    "run.model_kwargs.in_channels": [(3, NONE), (0, NONE), (10**9, NONE)],
    "run.model_kwargs.image_size": [(10**6, NONE), (28, NONE)],
    "run.model_folder": [(5, NONE), ("/nonexistent", ALL)],
    "run.dataset_options": [([1], NONE)],
    "run.validation_split": [(2.0, NONE)],
    "train.epochs": [(0, NONE), (10**12, NONE), ("1", NONE)],
    "train.batch_size": [(10**12, NONE)],
    "train.lr": [(-1, NONE), (float("nan"), NONE)],
    "train.optimizer": [("rmsprop", NONE)],
    "train.bogus": [(1, NONE)],
    "recorder.checkpoint_every": [(-1, NONE), ("5", NONE)],
}  # fmt: skip
META_WRONG = {"epoch": "one", "step": "x", "global_step": [1], "task": 5, "input_spec": "x"}


def corpus(config: dict) -> dict[str, tuple]:
    """Every damage by name: (a function of the run folder, the commands that still work)."""
    cases = {}
    for key, value in config.items():
        missing = (NONE if key == "run" else DIAGRAM) if key in REQUIRED else ALL
        cases[f"config-no-{key}"] = partial(_edit, partial(_drop, key)), missing
        cases[f"config-{key}-wrong"] = partial(_edit, partial(_put, key, _wrong(value))), NONE
    for path, values in ABSURD.items():
        for i, (value, works) in enumerate(values):
            cases[f"config-{path}-{i}"] = partial(_edit, partial(_put, path, value)), works
    cases["config-a-list"] = partial(_edit, lambda c: [c]), NONE
    for name, payload in BROKEN_JSON.items():
        cases[f"config-{name}"] = partial(_raw, "config", payload), NONE
    cases["metrics-not-utf8"] = partial(_raw, "metrics", b'{"a": "\xff\xfe"}'), ALL
    cases["history-not-utf8"] = partial(_raw, "history", b"epoch,loss\n\xff\xfe,1\n"), ALL
    for key, wrong in META_WRONG.items():
        cases[f"meta-no-{key}"] = partial(_forge, partial(_meta, partial(_without, key))), DIAGRAM
        change = partial(_meta, lambda m, key=key, wrong=wrong: {**m, key: wrong})
        cases[f"meta-{key}-wrong"] = partial(_forge, change), DIAGRAM
    for key in ("optimizer", "rng", "callbacks"):  # only the last checkpoint holds them
        cases[f"meta-no-{key}"] = (
            partial(_forge, partial(_meta, partial(_without, key))),
            (NOT_RESUME),
        )
    huge = partial(_put, "input_spec.size", [100000, 100000])
    cases["meta-input_spec-huge"] = partial(_forge, partial(_meta, huge)), DIAGRAM
    cases["meta-a-list"] = partial(_forge, partial(_meta, lambda m: [m])), DIAGRAM
    for name, change in FORGED_WEIGHTS.items():
        cases[f"weights-{name}"] = partial(_forge, partial(_weights, change)), DIAGRAM

    def one(tensors, meta):
        return _without("model.features.0.bias", tensors), meta

    cases["weights-one-missing"] = partial(_forge, one), DIAGRAM
    truncate = partial(_checkpoints, lambda f: f.write_bytes(f.read_bytes()[:-100]))
    cases["checkpoints-truncated"] = truncate, DIAGRAM
    cases["best-missing"] = lambda run: RunLayout(run).best.unlink(), ALL
    cases["no-checkpoints"] = partial(_checkpoints, Path.unlink), {"diagram", "resume"}
    return cases


# --- the child process: every case through main() under the memory cap ---------------------


def _call(args: list[str]) -> dict:
    """main(args)'s code and stderr, or what escaped it (a user would see a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except BaseException as error:  # recorded: the test fails on it
        escaped = "".join(traceback.format_exception_only(error)).strip()
        return {"code": None, "err": err.getvalue(), "escaped": escaped}
    return {"code": code, "err": err.getvalue()}


def _commands(run: Path, png: Path) -> dict[str, list[str]]:
    return {
        "predict": ["predict", str(run), str(png)],
        "evaluate": ["evaluate", str(run), "--no-download"],
        "export": ["export", str(run)],
        "diagram": ["diagram", str(run), "--out", str(run.parent / f"{run.name}.svg")],
        "resume": ["train", "--resume", str(run), "--epochs", "2", "--quiet", "--no-download"],
    }


def run_corpus(trained: Path, work: Path) -> dict:
    """Damage a copy of ``trained`` per case and call every command on it, in this process
    capped at :data:`CAP` bytes of address space."""
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    png = work / "digit.png"
    Image.new("L", (28, 28), 40).save(png)
    results = {}
    for name, (damage, _) in corpus(json.loads(RunLayout(trained).config.read_text())).items():
        run = work / "runs" / name
        shutil.copytree(trained, run)
        damage(run)
        results[name] = {c: _call(args) for c, args in _commands(run, png).items()}
        shutil.rmtree(run)
    return results


def _problem(call: dict, works: bool) -> str | None:
    """Why a call's outcome is not the expected one, or None."""
    if "escaped" in call:
        return f"escaped main(): {call['escaped'][:300]}"
    code, err = call["code"], call["err"]
    if "Traceback" in err:
        return f"a traceback on stderr: {err[-300:]}"
    if works:
        return None if code == 0 else f"expected to work, got {code}: {err[:300]}"
    if code == 0:
        return "expected an error, it worked"
    if not err.startswith("error: ") or err.count("\n") != 1:
        return f"expected one 'error: ' line, got {code}: {err[:300]!r}"
    return None


def test_every_damaged_run_fails_in_one_line_or_works(trained, tmp_path):
    results_file = tmp_path / "results.json"
    child = subprocess.run(
        [sys.executable, __file__, str(trained), str(tmp_path), str(results_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=3600,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(results_file.read_text())
    expected = {
        n: works
        for n, (_, works) in corpus(json.loads(RunLayout(trained).config.read_text())).items()
    }
    assert results.keys() == expected.keys()
    problems, outcomes = [], {"refused": 0, "worked": 0}
    for name, calls in results.items():
        for command, call in calls.items():
            problem = _problem(call, command in expected[name])
            if problem:
                problems.append(f"{name} / {command}: {problem}")
            outcomes["worked" if call.get("code") == 0 else "refused"] += 1
    calls = sum(outcomes.values())
    print(
        f"\ncorpus: {len(results)} damaged runs x {len(COMMANDS)} commands = {calls} calls: "
        f"{outcomes['refused']} refused in one line, {outcomes['worked']} worked"
    )
    assert not problems, "\n".join(problems)


if __name__ == "__main__":
    found = run_corpus(Path(sys.argv[1]), Path(sys.argv[2]))
    Path(sys.argv[3]).write_text(json.dumps(found))
