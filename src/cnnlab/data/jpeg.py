"""JPEG decoding through simplejpeg (libjpeg-turbo) when it is installed
(``pip install 'cnnlab[fast-jpeg]'``), else Pillow: the same pixels, decoded faster.

Pillow and simplejpeg both run libjpeg-turbo with the accurate integer IDCT and smooth
chroma upsampling, so a grayscale, YCbCr or RGB JPEG gives identical bytes either way (the
tests compare them); CMYK and YCCK files, whose conversion to RGB differs, and anything
simplejpeg refuses go to Pillow. docs/data-streaming.md has the speeds.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cnnlab.data.images import MAX_PIXELS, open_image

try:
    import simplejpeg
except ImportError:  # the optional extra is not installed: Pillow decodes everything
    simplejpeg = None

JPEG_SUFFIXES = {".jpg", ".jpeg"}
FAST_COLORSPACES = {"Gray": "GRAY", "YCbCr": "RGB", "RGB": "RGB"}


def read_image(file: Path) -> Image.Image:
    """The decoded image at ``file``, as :func:`cnnlab.data.images.open_image` gives it."""
    if simplejpeg is None or file.suffix.lower() not in JPEG_SUFFIXES:
        return open_image(file)
    try:
        data = file.read_bytes()
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        wanted = FAST_COLORSPACES.get(colorspace)
        if wanted is None or height * width > MAX_PIXELS:
            return open_image(file)  # Pillow's conversion, or its one-line refusal
        array = simplejpeg.decode_jpeg(data, colorspace=wanted)
    except (OSError, ValueError):
        return open_image(file)
    if wanted == "GRAY":
        return Image.fromarray(array[..., 0], mode="L")
    return Image.fromarray(array, mode="RGB")
