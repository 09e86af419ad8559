"""Downloads end to end against a local HTTP server serving files the tests generate."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from cnnlab.data import load, vision
from cnnlab.data.download import data_root, fetch, source_url
from cnnlab.data.idx import write_idx
from cnnlab.errors import CnnlabError


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        if name.startswith("cut/"):  # announce more than is sent, then hang up
            body = self.files[name[4:]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 2))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def server():
    """A server on 127.0.0.1 (ephemeral port); yields (base URL, files dict)."""
    files: dict[str, bytes] = {}
    handler = type("Handler", (_Handler,), {"files": files})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()
    httpd.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _tiny_mnist(n: int = 6) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    return {
        "t10k-images-idx3-ubyte.gz": gzip.compress(write_idx(images)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(write_idx(labels)),
    }


def _no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_download_is_verified_and_cached(server, tmp_path):
    base, files = server
    files["a.bin"] = b"hello world" * 1000
    dest = tmp_path / "ds" / "a.bin"
    fetch(f"{base}/a.bin", dest, _md5(files["a.bin"]), name="ds")
    assert dest.read_bytes() == files["a.bin"]
    assert _no_leftovers(dest.parent) == ["a.bin"]
    del files["a.bin"]  # second call must use the cache, not the server
    assert fetch(f"{base}/a.bin", dest, _md5(dest.read_bytes()), name="ds") == dest


@pytest.mark.parametrize(
    ("path", "md5", "message"),
    [
        ("a.bin", "0" * 32, "expected " + "0" * 32),
        ("missing.bin", None, "HTTP 404"),
        ("cut/a.bin", None, "cut short"),
    ],
    ids=["bad-checksum", "404", "server-gone-mid-transfer"],
)
def test_failed_download_leaves_nothing(server, tmp_path, path, md5, message):
    base, files = server
    files["a.bin"] = bytes(range(256)) * 400
    dest = tmp_path / "ds" / "a.bin"
    with pytest.raises(CnnlabError, match=message) as caught:
        fetch(f"{base}/{path}", dest, md5, name="ds")
    assert "\n" not in str(caught.value)
    assert str(dest) in str(caught.value)
    assert _no_leftovers(dest.parent) == []


def test_connection_refused_is_one_line(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dest = tmp_path / "ds" / "a.bin"
    with pytest.raises(CnnlabError, match="check the network") as caught:
        fetch(f"http://127.0.0.1:{port}/a.bin", dest, None, name="ds")
    assert "refused" in str(caught.value).lower()
    assert _no_leftovers(dest.parent) == []


def test_missing_file_without_download_says_where(tmp_path):
    with pytest.raises(CnnlabError, match="missing") as caught:
        fetch("http://example.invalid/a.bin", tmp_path / "ds" / "a.bin", None, download=False)
    assert "put it at" in str(caught.value)
    assert str(tmp_path / "ds" / "a.bin") in str(caught.value)


def test_corrupt_cached_file_is_reported(tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"not it")
    with pytest.raises(CnnlabError, match="delete it"):
        fetch("http://example.invalid/a.bin", dest, "0" * 32)


def test_mnist_end_to_end_through_mirror(server, tmp_path, monkeypatch):
    base, files = server
    files.update(_tiny_mnist())
    for name, body in files.items():
        monkeypatch.setitem(vision.MNIST.files, name, _md5(body))
    monkeypatch.setenv("CNNLAB_MIRROR", base)
    test = load("mnist", "test", data_dir=tmp_path)
    assert test.images.shape == (6, 1, 28, 28)
    assert test.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert _no_leftovers(tmp_path / "mnist") == sorted(files)


def test_mnist_published_checksum_rejects_other_file(server, tmp_path):
    base, files = server
    files.update(_tiny_mnist())
    with pytest.raises(CnnlabError, match="9fb629c4189551a2d022fa330f9573f3"):
        load("mnist", "test", data_dir=tmp_path, mirror=base)
    assert _no_leftovers(tmp_path / "mnist") == []


def test_truncated_gzip_through_load(server, tmp_path, monkeypatch):
    base, files = server
    files.update(_tiny_mnist())
    name = "t10k-images-idx3-ubyte.gz"
    files[name] = files[name][: len(files[name]) // 2]
    for key, body in files.items():
        monkeypatch.setitem(vision.MNIST.files, key, _md5(body))
    with pytest.raises(CnnlabError, match="truncated gzip"):
        load("mnist", "test", data_dir=tmp_path, mirror=base)


def test_data_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("CNNLAB_DATA_DIR")
    assert data_root() == Path.home() / ".cache" / "cnnlab"
    monkeypatch.setenv("CNNLAB_MIRROR", "http://m/")
    assert source_url("http://canonical", "f.gz") == "http://m/f.gz"
    assert source_url("http://canonical", "f.gz", mirror="http://x") == "http://x/f.gz"
