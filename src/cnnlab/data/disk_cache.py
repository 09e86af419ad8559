"""An image folder decoded once into fixed-size uint8 samples on disk, read back by offset.

A cache folder holds three files::

    images.u8      N x C x H x W uint8, C order, no header: sample i at byte i * C*H*W
    labels.i64     N int64 class ids, native byte order
    manifest.json  format version, count, sample shape, mode, class names, the source's
                   fingerprint, samples written so far, complete flag

Why raw arrays and not a streaming format (WebDataset shards, TFRecord): a fixed-size sample
at a computed offset can be read on its own, so the seeded permutation of
:class:`~cnnlab.data.loader.InMemoryLoader` is read exactly as it is (no shuffle buffer, no
approximation), resume skips batches without reading them, and a torchrun rank reads only its
share. :class:`SampleFile` reads a batch with one ``pread`` per run of neighbouring samples,
with read-ahead off (``POSIX_FADV_RANDOM``): a process holds the samples it asked for and
nothing else, neither a mapping of the file nor the pages around each sample that a page
fault in a memory map would read ahead (docs/data-streaming.md has the measurements).

Building (:mod:`cnnlab.data.cache_build`) preallocates both files, writes samples in the
source's sorted order chunk by chunk, fsyncs them, then atomically rewrites the manifest with
the count written; a re-run resumes from that count, and ``complete`` is set last. The
fingerprint is SHA-256 over every source image's relative path, byte size and ``mtime_ns``:
a file added, removed or rewritten changes it, and :func:`open_cache` then refuses the cache.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from cnnlab.data.folder import class_images, class_names
from cnnlab.errors import CnnlabError
from cnnlab.files import read_json

FORMAT_VERSION = 1
IMAGES = "images.u8"
LABELS = "labels.i64"
MANIFEST = "manifest.json"


def source_listing(source: Path) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """The class names and ``(file, class id)`` of the image folder ``source``, sorted."""
    if not source.is_dir():
        raise CnnlabError(
            f"the cache source must be a folder of class sub-folders. Received: {str(source)!r}"
        )
    classes = class_names(source)
    return classes, class_images(source, classes)


def fingerprint(source: Path, files: list[tuple[Path, int]]) -> str:
    """SHA-256 over each file's relative path, byte size and ``mtime_ns``, in sorted order."""
    digest = hashlib.sha256()
    for file, _ in sorted(files):
        stat = file.stat()
        digest.update(f"{file.relative_to(source).as_posix()}\0{stat.st_size}\0".encode())
        digest.update(f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def sample_bytes(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


class SampleFile:
    """Samples of a raw N x C x H x W uint8 file, read by offset (sample ``i`` at byte
    ``i * C*H*W``). Picklable: each process opens the file when it first reads."""

    def __init__(self, path: Path, count: int, shape: tuple[int, ...]) -> None:
        self.path, self.count, self.shape = path, count, shape
        self.sample_bytes = sample_bytes(shape)
        self._file = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None}

    def _fd(self) -> int:
        if self._file is None:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 (closed with self)
            os.posix_fadvise(self._file.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
        return self._file.fileno()

    def read(self, index: np.ndarray) -> np.ndarray:
        """Samples ``index`` (len(index) x C x H x W), in the order asked. Read in file order,
        one ``preadv`` per run of consecutive samples."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= self.count):
            raise CnnlabError(
                f"sample index out of range 0..{self.count - 1}. "
                f"Received: {index.min()}..{index.max()}"
            )
        ranks = np.argsort(index, kind="stable")
        ordered = np.empty((len(index), *self.shape), dtype=np.uint8)
        starts = np.flatnonzero(np.diff(index[ranks], prepend=-2) != 1)
        for first, stop in zip(starts, [*starts[1:], len(index)], strict=False):
            self._read_run(int(index[ranks[first]]), ordered[first:stop])
        out = np.empty_like(ordered)
        out[ranks] = ordered
        return out

    def _read_run(self, sample: int, into: np.ndarray) -> None:
        view, offset = memoryview(into.reshape(-1)), sample * self.sample_bytes
        while len(view):
            done = os.preadv(self._fd(), [view], offset)
            if done == 0:
                raise CnnlabError(
                    f"{self.path} ends before sample {offset // self.sample_bytes} (the file "
                    "was cut short after the cache was opened); rebuild the cache"
                )
            view, offset = view[done:], offset + done


@dataclass(frozen=True)
class DiskCache:
    """A complete cache, read-only: the images file (:class:`SampleFile`), ``labels`` N
    int64, the class names, and where it lives."""

    folder: Path
    file: SampleFile = field(repr=False)
    labels: np.ndarray = field(repr=False)
    classes: tuple[str, ...]
    source: str

    @property
    def shape(self) -> tuple[int, ...]:
        """C x H x W of one sample."""
        return self.file.shape

    def read(self, index: np.ndarray) -> np.ndarray:
        """Samples ``index`` as len(index) x C x H x W uint8, in the order asked."""
        return self.file.read(index)

    @cached_property
    def images(self) -> np.memmap:
        """All samples, memory-mapped read-only (for looking at them; training reads with
        :meth:`read`, which keeps only what it asked for)."""
        return np.memmap(self.file.path, dtype=np.uint8, mode="r", shape=(len(self), *self.shape))

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.shape))
        return f"DiskCache({len(self)} samples {shape}, {len(self.classes)} classes, {self.folder})"


def read_manifest(folder: Path) -> dict | None:
    """The manifest of the cache in ``folder``, or None when there is none."""
    path = folder / MANIFEST
    return read_json(path) if path.is_file() else None


def open_cache(cache_dir: str | os.PathLike, source_folder: str | os.PathLike | None = None):
    """The complete cache in ``cache_dir``, read-only.

    Args:
        cache_dir: the folder :func:`~cnnlab.data.cache_build.build_cache` wrote.
        source_folder: when given, the cache must still match it (same fingerprint).

    Raises:
        CnnlabError: no cache, an unfinished one, a different format, files of the wrong
            size, or a source folder that changed since; the line says how to rebuild.
    """
    folder = Path(cache_dir).expanduser()
    manifest = read_manifest(folder)
    rebuild = "rebuild it with build_cache (or delete the folder)"
    if manifest is None:
        raise CnnlabError(f"{folder} holds no data cache ({MANIFEST} missing); {rebuild}")
    if manifest.get("version") != FORMAT_VERSION:
        raise CnnlabError(
            f"{folder} is a cache of format {manifest.get('version')!r}, this cnnlab reads "
            f"format {FORMAT_VERSION}; {rebuild}"
        )
    if not manifest.get("complete"):
        raise CnnlabError(
            f"{folder} is an unfinished cache ({manifest.get('written')} of "
            f"{manifest.get('count')} samples written); run build_cache again to finish it"
        )
    if source_folder is not None:
        source = Path(source_folder).expanduser()
        if fingerprint(source, source_listing(source)[1]) != manifest["fingerprint"]:
            raise CnnlabError(
                f"{folder} was built from an older state of {source} (files added, removed "
                f"or changed since); {rebuild}"
            )
    count, shape = int(manifest["count"]), tuple(manifest["shape"])
    for name, size in ((IMAGES, count * sample_bytes(shape)), (LABELS, count * 8)):
        actual = (folder / name).stat().st_size if (folder / name).is_file() else None
        if actual != size:
            raise CnnlabError(
                f"{folder / name} has {actual} bytes, the manifest says {size}; {rebuild}"
            )
    images = SampleFile(folder / IMAGES, count, shape)
    labels = np.fromfile(folder / LABELS, dtype=np.int64, count=count)
    return DiskCache(folder, images, labels, tuple(manifest["classes"]), manifest["source"])
