"""The orchestrator's side of the workers: each framework runs in a fresh subprocess
(``torch_worker.py`` for cnnlab and the textbook loop in this venv, ``keras_worker.py`` in
``benchmarks/.keras-venv``), driven by JSON lines (protocol in ``bench_common.py``).

The Keras venv is created on first use (``pip install keras tensorflow-cpu``) and reused
afterwards; a stamp file marks a finished install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERAS_VENV = HERE / ".keras-venv"
# tensorflow-cpu avoids the CUDA wheels; plain tensorflow is the fallback where it is missing
KERAS_REQUIREMENTS = (("keras>=3", "tensorflow-cpu"), ("keras>=3", "tensorflow"))


def keras_python(reinstall: bool) -> Path:
    """The Keras venv's python, created and installed on first use (a stamp marks success)."""
    python = KERAS_VENV / "bin" / "python"
    stamp = KERAS_VENV / ".bench-installed"
    if stamp.exists() and python.exists() and not reinstall:
        return python
    print(f"Setting up {KERAS_VENV} (one time; about 1.5 GB of wheels) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(KERAS_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    errors = []
    for requirements in KERAS_REQUIREMENTS:
        result = subprocess.run([*pip, *requirements], capture_output=True, text=True)
        if result.returncode == 0:
            stamp.write_text(" ".join(requirements) + "\n")
            return python
        errors.append(f"pip install {' '.join(requirements)}:\n{result.stderr[-2000:]}")
    raise RuntimeError("could not install Keras:\n" + "\n".join(errors))


class WorkerError(RuntimeError):
    pass


class Worker:
    """One framework's subprocess: JSON commands in on stdin, JSON answers out on stdout."""

    def __init__(self, framework: str, argv: list[str], log: Path) -> None:
        self.framework = framework
        self.log_path = log
        self.log = log.open("w")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=HERE,
            env=env,
        )
        self.info: dict = {}

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise WorkerError(f"{self.framework} worker died:\n{self._log_tail()}")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise WorkerError(f"{self.framework} worker failed:\n{reply['error']}")
        return reply

    def call(self, cmd: str, **kwargs) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def _log_tail(self) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_workers(
    workload, data: Path, frameworks: list[str], keras_py: Path | None, logs: Path
) -> dict[str, Worker]:
    """A fresh worker per framework for ``workload`` (a ``workloads.Workload``), each ready
    (data loaded, model built: its ``info`` holds the worker's ``ready`` answer)."""
    spec = {
        "data_dir": str(data),
        "model": workload.model,
        "model_kwargs": workload.model_kwargs,
        "batch_size": workload.batch_size,
        "lr": workload.lr,
    }
    workers = {}
    for framework in frameworks:
        if framework.startswith("keras"):
            argv = [str(keras_py), str(HERE / "keras_worker.py")]
        else:
            argv = [sys.executable, str(HERE / "torch_worker.py")]
        argv.append(json.dumps({**spec, "framework": framework}))
        log = logs / f"{workload.name}-{framework}.log"
        workers[framework] = Worker(framework, argv, log)
    for worker in workers.values():
        worker.info = worker.read()
    return workers
