"""Predict requests per second of ``cnnlab studio`` over a runs folder of many runs.

Trains one small run (LeNet-5 on the digits, one epoch), copies it ``--runs`` times into a
temporary runs folder (hard links, so a thousand copies cost no disk), serves it with
``cnnlab studio`` in a child process (4 GB address space, ``--seconds`` + 120 s of CPU at most)
and posts a drawn digit to one run's predict endpoint from ``--clients`` threads, each on its
own keep-alive connection, for ``--seconds`` seconds. Also times the runs list, and
reports the server's CPU time per request, which a machine shared with other work does not
change as much as the rate.

    .venv/bin/python benchmarks/bench_studio.py                 # 1,000 runs, 10 s, 4 clients
    .venv/bin/python benchmarks/bench_studio.py --runs 10000 --seconds 20
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from cnnlab.cli.main import main as cnnlab


def digit() -> bytes:
    """A 7 drawn white on black, as the page's pad sends it."""
    image = Image.new("L", (280, 280))
    ImageDraw.Draw(image).line([(60, 60), (220, 60), (120, 240)], fill=255, width=22)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_runs(folder: Path, count: int) -> str:
    """``count`` copies of one trained run under ``folder/runs``; the id of the first."""
    trained = folder / "trained"
    args = ["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--quiet", "--out"]
    if cnnlab([*args, str(trained)]) != 0:
        raise SystemExit("training the run to copy failed")
    (run,) = trained.iterdir()
    for index in range(count):
        shutil.copytree(run, folder / "runs" / f"run-{index:05d}", copy_function=os.link)
    return "run-00000"


def start_server(root: Path, lifetime: float) -> tuple[subprocess.Popen, str]:
    """``cnnlab studio`` on a free port, in its own process: 4 GB of address space and
    ``lifetime`` seconds of CPU at most, whatever happens to this one."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        resource.setrlimit(resource.RLIMIT_CPU, (int(lifetime), int(lifetime)))

    args = [sys.executable, "-m", "cnnlab", "studio", "--runs", str(root), "--port", "0"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, preexec_fn=limits)
    url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the studio did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hammer(url: str, path: str, image: bytes, seconds: float, clients: int) -> list[float]:
    """Latencies of the successful predict requests; any failure stops the benchmark."""
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as session:
            while time.monotonic() < deadline and not failures:
                start = time.perf_counter()
                response = session.post(path, files={"image": ("seven.png", image)})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"predict failed: {failures[0]}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as folder:
        start = time.monotonic()
        run_id = make_runs(Path(folder), options.runs)
        print(f"{options.runs:,} runs made in {time.monotonic() - start:.1f} s")
        process, url = start_server(Path(folder) / "runs", options.seconds + 120)
        try:
            listed = []
            for _ in range(3):
                start = time.perf_counter()
                runs = httpx.get(f"{url}/api/runs", timeout=60).json()["runs"]
                listed.append(time.perf_counter() - start)
            print(f"GET /api/runs ({len(runs):,} runs): {min(listed) * 1000:.0f} ms")
            path, image = f"/api/runs/{run_id}/predict", digit()
            hammer(url, path, image, 1.0, 1)  # load the model, warm the connection
            cpu, own = cpu_seconds(process.pid), time.process_time()
            latencies = hammer(url, path, image, options.seconds, options.clients)
            cpu, own = cpu_seconds(process.pid) - cpu, time.process_time() - own
        finally:
            process.terminate()
            process.wait(timeout=10)
    rate = len(latencies) / options.seconds
    quantiles = statistics.quantiles(latencies, n=20)
    print(
        f"POST {path}: {rate:.1f} requests/s with {options.clients} clients "
        f"(median {statistics.median(latencies) * 1000:.1f} ms, "
        f"95th percentile {quantiles[18] * 1000:.1f} ms, {len(latencies):,} requests); "
        f"CPU per request: server {cpu / len(latencies) * 1000:.1f} ms, "
        f"clients {own / len(latencies) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
