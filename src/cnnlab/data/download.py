"""Where data lives and how it gets there: data directory, mirrors, verified downloads.

A download goes to a temporary file next to its destination, is checked (length announced by
the server, then the published md5, or the sha256 prefix a torch.hub file name carries), and
only then renamed into place with ``os.replace``, so the cache never holds a partial or corrupt
file; the temporary file is deleted on any error.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path

CHUNK = 1 << 20
TIMEOUT_S = 30


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$CNNLAB_DATA_DIR``, else
    ``~/.cache/cnnlab``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("CNNLAB_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cnnlab"


def source_url(base: str, filename: str, mirror: str | None = None) -> str:
    """URL of ``filename``: under ``mirror`` (or ``$CNNLAB_MIRROR``) when set, else ``base``."""
    root = mirror or os.environ.get("CNNLAB_MIRROR") or base
    return f"{root.rstrip('/')}/{filename}"


def md5sum(path: Path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    return _digest(path, hashlib.md5(usedforsecurity=False))


def sha256sum(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    return _digest(path, hashlib.sha256())


def _digest(path: Path, digest) -> str:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def by_hand(dest: Path, url: str) -> str:
    """The repair hint every error ends with."""
    return f"download {url} by hand and put it at {dest}"


def check_md5(path: Path, md5: str | None, url: str, shown: Path | None = None) -> None:
    """Raise when ``path`` does not have the published ``md5`` (no-op when none is known)."""
    if md5 is None:
        return
    actual = md5sum(path)
    if actual != md5:
        where = shown or path
        raise CnnlabError(
            f"{where} has md5 {actual}, expected {md5} (corrupt or different file); "
            f"delete it and {by_hand(where, url)}"
        )


def check_sha256(path: Path, prefix: str | None, url: str, shown: Path | None = None) -> None:
    """Raise when the sha256 of ``path`` does not start with ``prefix`` (torch.hub's
    ``check_hash`` on a ``name-<prefix>.pth`` file; no-op when None)."""
    if prefix is None:
        return
    actual = sha256sum(path)
    if not actual.startswith(prefix):
        where = shown or path
        raise CnnlabError(
            f"{where} has sha256 {actual[:16]}..., expected {prefix}... (corrupt or different "
            f"file); delete it and {by_hand(where, url)}"
        )


def fetch(
    url: str,
    dest: Path,
    md5: str | None = None,
    download: bool = True,
    name: str = "",
    sha256: str | None = None,
) -> Path:
    """Return ``dest``, verified, downloading it from ``url`` first if it is missing.

    Args:
        url: where the file is published.
        dest: its place in the data directory.
        md5: the published checksum, or None when none is published (then only the length and
            the parser's structure checks protect the file).
        sha256: the published sha256 or its first hex digits (torch.hub file names carry 8).
        download: when False a missing file is an error instead of a download.
        name: the dataset, for the messages.

    Raises:
        CnnlabError: missing file with ``download=False``; offline or refused connection; HTTP
            error; transfer cut short; checksum mismatch; unwritable data directory.
    """
    if dest.is_file():
        check_md5(dest, md5, url)
        check_sha256(dest, sha256, url)
        return dest
    if not download:
        raise CnnlabError(
            f"{dest} is missing ({name} needs it and download=False); {by_hand(dest, url)}, "
            f"or run: cnnlab datasets download {name} --data-dir {dest.parents[1]}"
        )
    with atomic_path(dest) as temporary:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle = temporary.open("xb")
        except OSError as error:
            raise CnnlabError(
                f"cannot write {dest}: {error.strerror or error}; choose a writable --data-dir "
                f"or {by_hand(dest, url)}"
            ) from error
        with handle:
            _stream(url, handle, dest)
        check_md5(temporary, md5, url, shown=dest)
        check_sha256(temporary, sha256, url, shown=dest)
    return dest


def _stream(url: str, handle, dest: Path) -> None:
    """Copy the body at ``url`` into ``handle``; raise on any network failure or short body."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            expected = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(CHUNK):
                handle.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        raise CnnlabError(
            f"could not download {dest.name}: HTTP {error.code} {error.reason} at {url}; "
            f"set CNNLAB_MIRROR to a mirror that has it, or {by_hand(dest, url)}"
        ) from error
    except urllib.error.URLError as error:
        raise CnnlabError(
            f"could not download {dest.name} from {url} ({error.reason}); check the network "
            f"(offline?), or {by_hand(dest, url)}"
        ) from error
    except (OSError, http.client.HTTPException) as error:
        raise CnnlabError(
            f"download of {dest.name} from {url} failed midway ({error!r}); nothing was kept, "
            f"run it again, or {by_hand(dest, url)}"
        ) from error
    if expected is not None and received != int(expected):
        raise CnnlabError(
            f"download of {dest.name} from {url} was cut short: {received} of {expected} bytes; "
            f"nothing was kept, run it again, or {by_hand(dest, url)}"
        )
