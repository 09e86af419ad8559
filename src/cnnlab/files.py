"""Writing files so that a reader sees the old file or the new one, whole, never a part.

Every file cnnlab writes (checkpoints, JSON, CSV, figures, reports, exports, downloaded data)
goes through :func:`atomic_path`: the content is written under a temporary name in the same
folder, ``.NAME.<pid>-<random>.tmp``, flushed to disk, then renamed over ``NAME`` with
``os.replace``, which is atomic within one file system. A process killed mid-write leaves at
most such a temporary, and :func:`remove_stale_temporaries` knows that one name scheme.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cnnlab.errors import CnnlabError

TEMPORARY_PATTERN = ".*.tmp"


def temporary_name(path: Path) -> Path:
    """The temporary that stands for ``path`` while it is written (unique per process)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on leaving the block without
    an error it replaces ``path``, otherwise it is deleted and ``path`` is left as it was.

    The temporary may be made a file or a folder (a folder is moved into place whole).

    >>> with atomic_path("figure.png") as temporary:  # doctest: +SKIP
    ...     figure.savefig(temporary, format="png")
    """
    path = Path(path)
    temporary = temporary_name(path)
    try:
        yield temporary
        if temporary.is_file():
            _fsync(temporary)
        os.replace(temporary, path)
        _fsync(path.parent)
    except OSError as error:
        if error.filename is None:  # a full disk says ENOSPC, not which file: name it
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    finally:
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def finite(value):
    """``value`` with every NaN and infinity, at any depth, replaced by None: JSON has none."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON (NaN and infinities as null), atomically."""
    return write_text(path, json.dumps(finite(data), indent=2) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``, or one clear error naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CnnlabError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise CnnlabError(
            f"{path} is not UTF-8 text ({error.reason}); was it copied whole?"
        ) from error
    except json.JSONDecodeError as error:
        raise CnnlabError(f"{path} is not valid JSON ({error}); was it copied whole?") from error
    if not isinstance(data, dict):
        raise CnnlabError(f"{path} must hold a JSON object. Received: {type(data).__name__}")
    return data


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporaries (:func:`temporary_name`) that killed writers left anywhere below
    ``folder``; returns what was removed."""
    stale = [p for p in Path(folder).rglob(TEMPORARY_PATTERN) if p.is_file() or p.is_dir()]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale
