"""A generated image folder of any size, for the streaming benchmark: RGB JPEGs in one
sub-folder per class (the ``image-folder`` layout), the same bytes for the same seed.

Each image is a smooth two-colour gradient (random colours and direction) with one filled
shape drawn on it; the class decides the shape's kind and rough place (10 classes: disc, square
or triangle in one of several places), so a small CNN learns the classes in a few hundred steps
while no two images are alike. Smooth content keeps the JPEGs small (about 1.5 kB at 96 x 96),
so a million images take about 1.5 GB on disk and 27.6 GB once decoded (1e6 x 3 x 96 x 96 bytes).

Run: ``python benchmarks/make_image_folder.py OUT --count 1000000 [--size 96] [--workers 2]``;
an existing complete folder is kept (its ``done.json`` names count, size and seed).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = 10
CHUNK = 2_000
SHAPES = ("disc", "square", "triangle")


def class_names() -> list[str]:
    return [f"class{k}" for k in range(CLASSES)]


def draw_image(rng: np.random.Generator, label: int, size: int) -> Image.Image:
    """One image of class ``label``: a gradient background and the class's shape."""
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.clip(
        0.5 + (np.cos(angle) * (ramp[None, :] - 0.5) + np.sin(angle) * (ramp[:, None] - 0.5)),
        0,
        1,
    )
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    background = start + t[..., None] * (end - start)
    image = Image.fromarray(background.astype(np.uint8), "RGB")
    shape = SHAPES[label % len(SHAPES)]
    place = label // len(SHAPES)  # 0..3: where the shape sits
    cx = size * (0.3 + 0.4 * (place % 2)) + rng.uniform(-0.08, 0.08) * size
    cy = size * (0.3 + 0.4 * (place // 2)) + rng.uniform(-0.08, 0.08) * size
    r = size * rng.uniform(0.12, 0.2)
    fill = tuple(int(v) for v in rng.uniform(0, 255, 3))
    pen = ImageDraw.Draw(image)
    if shape == "disc":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return image


def write_chunk(out: str, first: int, count: int, size: int, seed: int) -> int:
    """Images ``first .. first + count - 1``; image i has class i % 10 and its own seed."""
    for i in range(first, first + count):
        label = i % CLASSES
        rng = np.random.default_rng([seed, i])
        path = Path(out) / f"class{label}" / f"{i:07d}.jpg"
        if not path.exists():
            draw_image(rng, label, size).save(path, quality=90)
    return count


def make_folder(out: Path, count: int, size: int = 96, seed: int = 0, workers: int = 2) -> dict:
    """Write ``count`` images under ``out`` (resuming a partial folder); images/s and bytes."""
    marker = out / "done.json"
    wanted = {"count": count, "size": size, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return {"images_per_s": None, "kept": True, **wanted}
    for name in class_names():
        (out / name).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        jobs = [
            pool.submit(write_chunk, str(out), first, min(CHUNK, count - first), size, seed)
            for first in range(0, count, CHUNK)
        ]
        done = 0
        for job in jobs:
            done += job.result()
            print(f"\r{done:,}/{count:,} images", end="", flush=True)
    print()
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps(wanted))
    return {"images_per_s": count / seconds, "seconds": seconds, "kept": False, **wanted}


def folder_bytes(out: Path) -> int:
    return sum(entry.stat().st_size for name in class_names() for entry in os.scandir(out / name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    result = make_folder(args.out, args.count, args.size, args.seed, args.workers)
    result["bytes"] = folder_bytes(args.out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
