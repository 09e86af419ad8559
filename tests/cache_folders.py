"""Small image folders for the data cache and streaming tests, generated in tmp_path."""

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("ant", "bee", "cat")


def make_folder(root: Path, count: int = 90, seed: int = 0) -> Path:
    """``count`` images (PNG and JPEG, RGB and grayscale, sizes 12..30) over three classes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / CLASSES[i % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        h, w = (int(v) for v in rng.integers(12, 31, size=2))
        if i % 5 == 0:
            image = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), mode="L")
        else:
            image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), mode="RGB")
        suffix = ".jpg" if i % 2 else ".png"
        image.save(folder / f"{i:04d}{suffix}")
    return root
