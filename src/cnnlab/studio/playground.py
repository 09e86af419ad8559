"""The kernel playground: a sample or uploaded image filtered by a named or hand-written kernel,
through :func:`cnnlab.kernels.filter_image`, the function behind ``cnnlab kernels``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnlab import kernels as K
from cnnlab.studio.errors import StudioError
from cnnlab.studio.pictures import data_url

MAX_KERNEL = 9
MAX_SPEC_LENGTH = 1000
MAX_MAGNITUDE = 1e6


def _digit() -> np.ndarray:
    """A handwritten 3 from scikit-learn's 8x8 digits, each pixel drawn as a 12x12 block."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    image = digits.images[int(np.flatnonzero(digits.target == 3)[0])] * (255 / 16)
    return np.kron(image, np.ones((12, 12)))[..., None]  # 96 x 96 x 1


def _shapes() -> np.ndarray:
    """A grey test card: a square, a disc, a diagonal bar and a left-to-right gradient."""
    y, x = np.mgrid[0:128, 0:128].astype(float)
    image = np.full((128, 128), 30.0)
    image[16:56, 16:56] = 220  # square
    image[(y - 36) ** 2 + (x - 92) ** 2 < 20**2] = 170  # disc
    image[np.abs((y - 70) - (x - 20) * 0.8) < 4] = 255  # diagonal bar
    image[100:120, 8:120] = np.linspace(0, 255, 112)  # gradient
    return image[..., None]


def _colours() -> np.ndarray:
    """Three overlapping discs in red, green and blue on black (RGB)."""
    y, x = np.mgrid[0:128, 0:128].astype(float)
    image = np.zeros((128, 128, 3))
    for channel, (cy, cx) in enumerate(((48, 48), (48, 80), (78, 64))):
        image[..., channel][(y - cy) ** 2 + (x - cx) ** 2 < 30**2] = 255
    return image


SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "digit": _digit,
    "shapes": _shapes,
    "colours": _colours,
}


def sample(name: str) -> np.ndarray:
    """A built-in sample image, ``H x W x C`` floats in 0..255."""
    if name not in SAMPLES:
        raise StudioError(f"sample must be one of {', '.join(SAMPLES)}. Received: {name[:40]!r}")
    return SAMPLES[name]()


def check_kernel(spec: str) -> np.ndarray:
    """The kernel ``spec`` names or writes out, refused when too large or not finite."""
    if len(spec) > MAX_SPEC_LENGTH:
        raise StudioError(f"the kernel text is over {MAX_SPEC_LENGTH} characters")
    _, k = K.kernel(spec)
    if max(k.shape) > MAX_KERNEL:
        raise StudioError(
            f"the playground takes kernels up to {MAX_KERNEL}x{MAX_KERNEL}. "
            f"Received: {k.shape[0]}x{k.shape[1]}"
        )
    if not np.isfinite(k).all() or np.abs(k).max() > MAX_MAGNITUDE:
        raise StudioError(f"kernel values must be finite numbers within ±{MAX_MAGNITUDE:g}")
    return k


def kernel_catalog() -> dict:
    """The named kernels (as grids), the samples and the range modes the page offers."""
    return {
        "kernels": {name: build().tolist() for name, build in K.KERNELS.items()},
        "samples": list(SAMPLES),
        "ranges": list(K.RANGE_MODES),
    }


def apply(image: np.ndarray, spec: str, range_mode: str, sum_channels: bool) -> dict:
    """Filter ``image`` (``H x W x C``) with one kernel, as ``cnnlab kernels`` does."""
    k = check_kernel(spec)
    (_, original), (title, result) = K.filter_image(image, [spec], range_mode, sum_channels)
    label, _, detail = title.partition("\n")
    return {
        "original": data_url(original),
        "result": data_url(result),
        "label": label,
        "detail": detail,
        "kernel": k.tolist(),
        "size": list(image.shape),
    }
