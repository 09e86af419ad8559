"""Building a :mod:`~cnnlab.data.disk_cache`: decode an image folder once, crash-safely.

The order of writes is what makes a crash harmless: the manifest (``written: 0``) first, then
the preallocated data files and the labels; then per chunk the decoded samples, an fsync of
the data, and only then the manifest's new ``written`` count (an atomic rewrite). A killed
build leaves a manifest whose count is never ahead of the data on disk, so a re-run resumes
from it; ``complete`` is written last, and :func:`~cnnlab.data.disk_cache.open_cache` trusts
nothing else. Chunks are decoded by worker processes and written in order, with at most two
chunks per worker in flight, so memory stays bounded whatever the folder's size.
"""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from cnnlab.data.disk_cache import (
    FORMAT_VERSION,
    IMAGES,
    LABELS,
    MANIFEST,
    DiskCache,
    fingerprint,
    open_cache,
    read_manifest,
    sample_bytes,
    source_listing,
)
from cnnlab.data.folder import GRAY_MODES, decode
from cnnlab.data.images import open_image
from cnnlab.data.jpeg import read_image
from cnnlab.data.workers import die_with_parent
from cnnlab.errors import CnnlabError
from cnnlab.files import write_json
from cnnlab.shapes import parse_pair

CHUNK = 256
LOCK = ".lock"
FULL_DISK = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def decode_chunk(files: list[str], mode: str, size: tuple[int, int]) -> np.ndarray:
    """The images ``files`` as n x C x H x W uint8, decoded as ``image-folder`` decodes them."""
    arrays = [decode(read_image(Path(f)), mode, size) for f in files]
    stacked = np.stack(arrays)
    if mode == "L":
        return stacked[:, None]  # n x 1 x H x W
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))  # n x 3 x H x W


def _header_mode(file: Path) -> str:
    try:
        with Image.open(file) as image:
            return image.mode
    except OSError:
        return open_image(file).mode  # raises the one-line error naming the file


def _fresh_manifest(source: Path, files, classes, mode, size, digest: str) -> dict:
    channels = 1 if mode == "L" else 3
    return {
        "version": FORMAT_VERSION,
        "source": str(source),
        "fingerprint": digest,
        "count": len(files),
        "shape": [channels, *size],
        "mode": mode,
        "classes": list(classes),
        "written": 0,
        "complete": False,
    }


def build_cache(
    source_folder: str | os.PathLike,
    cache_dir: str | os.PathLike,
    size: str | int | tuple[int, int],
    mode: str | None = None,
    progress: bool = True,
    workers: int = 2,
    chunk: int = CHUNK,
) -> DiskCache:
    """Decode the image folder ``source_folder`` (one sub-folder per class) into
    ``cache_dir``, resuming an unfinished build of the same source; returns the opened cache.

    A complete cache of the same source, size and mode is returned as is; one of another
    source state (or size, mode, format) is rebuilt from scratch.

    Args:
        source_folder: ``<folder>/<class name>/<image>``.
        cache_dir: where the cache is written (created if needed).
        size: every image resized to H x W (bilinear): ``"96x96"``, ``96`` or ``(96, 96)``.
        mode: ``"L"`` or ``"RGB"``; default ``L`` if every image is grayscale, else ``RGB``.
        progress: show a progress bar.
        workers: decoding processes (0 or 1: decode in this process).
        chunk: samples decoded and committed together.

    Raises:
        CnnlabError: a bad source, size or mode, an unreadable image, or a full disk (the
            cache is then left unfinished, and :func:`open_cache` refuses it).
    """
    source = Path(source_folder).expanduser()
    folder = Path(cache_dir).expanduser()
    if mode not in (None, "L", "RGB"):
        raise CnnlabError(f"mode must be 'L' or 'RGB'. Received: mode={mode!r}")
    if chunk < 1:
        raise CnnlabError(f"chunk must be >= 1. Received: chunk={chunk}")
    hw = parse_pair(size, "size")
    classes, files = source_listing(source)
    chosen = mode or ("L" if all(_header_mode(f) in GRAY_MODES for f, _ in files) else "RGB")
    wanted = _fresh_manifest(source, files, classes, chosen, hw, fingerprint(source, files))
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        return _build(folder, wanted, files, workers, chunk, progress)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the cache folder's lock: a second builder (another torchrun process) waits for
    the first, then finds the cache complete."""
    with open(folder / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file drops the lock


def _build(folder: Path, wanted: dict, files, workers: int, chunk: int, progress: bool):
    """Resume, restart or skip the build of ``wanted`` in ``folder`` (its lock held)."""
    manifest = read_manifest(folder)
    same = manifest is not None and all(
        manifest.get(k) == v for k, v in wanted.items() if k not in ("written", "complete")
    )
    total = wanted["count"] * sample_bytes(tuple(wanted["shape"]))
    images = folder / IMAGES
    same = same and images.is_file() and images.stat().st_size == total
    if same and manifest["complete"]:
        return open_cache(folder)
    try:
        if not same:
            manifest = _start(folder, wanted, files)
        _fill(folder, manifest, files, workers, chunk, progress)
        write_json(folder / MANIFEST, {**manifest, "written": len(files), "complete": True})
    except OSError as error:
        if error.errno in FULL_DISK:
            raise CnnlabError(
                f"the disk is full while building the data cache in {folder} "
                f"({error.strerror}); free space or choose another cache folder, then run "
                "build_cache again"
            ) from error
        raise
    return open_cache(folder)


def _start(folder: Path, manifest: dict, files: list[tuple[Path, int]]) -> dict:
    """A new cache: the manifest saying nothing is written, then the preallocated files."""
    write_json(folder / MANIFEST, manifest)
    total = manifest["count"] * sample_bytes(tuple(manifest["shape"]))
    with open(folder / IMAGES, "wb") as out:
        try:  # allocate the blocks now: a disk too small fails here, not hours later
            os.posix_fallocate(out.fileno(), 0, total)
        except OSError as error:
            if error.errno in FULL_DISK:
                raise
        out.truncate(total)  # also where fallocate is not supported
    labels = np.array([label for _, label in files], dtype=np.int64)
    with open(folder / LABELS, "wb") as out:
        out.write(labels.tobytes())
        out.flush()
        os.fsync(out.fileno())
    return manifest


def _fill(folder: Path, manifest: dict, files, workers: int, chunk: int, progress: bool) -> None:
    """Decode and write the samples from ``manifest["written"]`` on, committing per chunk."""
    count, start = manifest["count"], manifest["written"]
    per_sample = sample_bytes(tuple(manifest["shape"]))
    mode, size = manifest["mode"], tuple(manifest["shape"][1:])
    names = [str(f) for f, _ in files]
    bar = tqdm(total=count, initial=start, unit="img", desc="data cache", disable=not progress)
    descriptor = os.open(folder / IMAGES, os.O_RDWR)
    pool = None
    if workers > 1:  # workers inherit the cache's lock: they must not outlive this process
        pool = multiprocessing.Pool(workers, die_with_parent, (os.getpid(),))

    def commit(at: int, samples: np.ndarray) -> None:
        os.pwrite(descriptor, samples.tobytes(), at * per_sample)
        os.fsync(descriptor)  # the data is on disk before the manifest counts it
        write_json(folder / MANIFEST, {**manifest, "written": at + len(samples)})
        bar.update(len(samples))

    try:
        if pool is None:
            for at in range(start, count, chunk):
                commit(at, decode_chunk(names[at : at + chunk], mode, size))
            return
        pending: deque = deque()
        for at in range(start, count, chunk):
            job = pool.apply_async(decode_chunk, (names[at : at + chunk], mode, size))
            pending.append((at, job))
            if len(pending) >= 2 * workers:  # bounded read-ahead
                first, done = pending.popleft()
                commit(first, done.get())
        while pending:
            first, done = pending.popleft()
            commit(first, done.get())
    finally:
        if pool is not None:
            pool.terminate()
        os.close(descriptor)
        bar.close()
