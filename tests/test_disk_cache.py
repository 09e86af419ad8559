"""The on-disk data cache: equal to the in-memory decode, resumed exactly after SIGKILL,
refused when the source changed or the build did not finish (a full disk included)."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cache_folders import CLASSES, make_folder
from cnnlab.data import build_cache, load, open_cache
from cnnlab.data.disk_cache import IMAGES, LABELS, MANIFEST
from cnnlab.errors import CnnlabError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def cache_bytes(folder: Path) -> tuple[bytes, bytes]:
    return (folder / IMAGES).read_bytes(), (folder / LABELS).read_bytes()


@pytest.mark.parametrize("workers", [0, 2])
def test_the_cache_equals_the_in_memory_decode(tmp_path, workers):
    source = make_folder(tmp_path / "src")
    cache = build_cache(
        source, tmp_path / "cache", size=(16, 20), progress=False, workers=workers, chunk=16
    )
    memory = load("image-folder", path=str(source), size="16x20", download=False)
    assert cache.shape == (3, 16, 20) and len(cache) == 90
    assert np.array_equal(np.asarray(cache.images), memory.images.numpy())
    assert np.array_equal(cache.labels, memory.labels.numpy())
    assert cache.classes == CLASSES
    manifest = json.loads((tmp_path / "cache" / MANIFEST).read_text())
    assert manifest["complete"] and manifest["written"] == 90
    assert not cache.images.flags.writeable


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    return build_cache(make_folder(folder / "src"), folder / "cache", size=(6, 5), progress=False)


@settings(max_examples=60, deadline=None)
@given(index=st.lists(st.integers(0, 89), max_size=40))
def test_read_gives_the_samples_asked_for_in_their_order(small_cache, index):
    """Repeats (weighted draws), runs of neighbours and any order, as a memory map indexes."""
    expected = np.asarray(small_cache.images)[np.array(index, dtype=np.int64)]
    assert np.array_equal(small_cache.read(np.array(index)), expected)


def test_read_maps_nothing_and_refuses_what_is_not_there(tmp_path):
    cache = build_cache(make_folder(tmp_path / "src"), tmp_path / "cache", size=(6, 5))
    assert len(cache.read(np.arange(90))) == 90
    # pread into a buffer: the images file is not mapped into this process by reading
    assert str(cache.file.path) not in Path("/proc/self/maps").read_text()
    with pytest.raises(CnnlabError, match=r"out of range 0\.\.89"):
        cache.read(np.array([3, 90]))


def test_a_file_cut_short_after_opening_is_named(tmp_path):
    cache = build_cache(make_folder(tmp_path / "src"), tmp_path / "cache", size=(6, 5))
    os.truncate(tmp_path / "cache" / IMAGES, 10 * 90)
    with pytest.raises(CnnlabError, match=r"ends before sample 11 .*rebuild"):
        cache.read(np.array([2, 11]))


BUILD = """
import sys, time
sys.path.insert(0, {src!r})
from cnnlab.data import cache_build
decode = cache_build.decode_chunk
def slow(*args):
    time.sleep(0.03)
    return decode(*args)
cache_build.decode_chunk = slow
cache_build.build_cache(
    {source!r}, {cache!r}, size=(16, 16), progress=False, workers={workers}, chunk=4
)
"""


def lock_is_free(cache: Path) -> bool:
    with open(cache / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@pytest.mark.parametrize("workers", [0, 2])
def test_a_killed_build_resumes_to_the_same_bytes(tmp_path, workers):
    source = make_folder(tmp_path / "src")
    whole = build_cache(source, tmp_path / "whole", size=16, progress=False, workers=0)
    cache = tmp_path / "cache"
    script = BUILD.format(src=SRC, source=str(source), cache=str(cache), workers=workers)
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while True:
        manifest = cache / MANIFEST
        if manifest.exists() and json.loads(manifest.read_text())["written"] > 0:
            break
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = json.loads((cache / MANIFEST).read_text())["written"]
    assert 0 < written < 90
    with pytest.raises(CnnlabError, match="unfinished cache"):
        open_cache(cache)
    deadline = time.monotonic() + 5  # the killed builder's decoders died with it
    while not lock_is_free(cache):
        assert time.monotonic() < deadline, "an orphaned decoder holds the cache's lock"
        time.sleep(0.05)
    resumed = build_cache(source, cache, size=16, progress=False, workers=0)
    assert cache_bytes(resumed.folder) == cache_bytes(whole.folder)


def test_a_changed_source_is_refused_then_rebuilt(tmp_path):
    source = make_folder(tmp_path / "src")
    cache = tmp_path / "cache"
    build_cache(source, cache, size=16, progress=False, workers=0)
    assert len(open_cache(cache, source)) == 90
    Image.new("RGB", (20, 20), (9, 9, 9)).save(source / "bee" / "new.png")
    with pytest.raises(CnnlabError, match=r"older state of .*src.*rebuild"):
        open_cache(cache, source)
    assert len(build_cache(source, cache, size=16, progress=False, workers=0)) == 91
    touched = source / "ant" / "0000.png"
    Image.new("L", (20, 20), 200).save(touched)
    os.utime(touched, ns=(1, 1))
    with pytest.raises(CnnlabError, match="older state"):
        open_cache(cache, source)
    rebuilt = build_cache(source, cache, size=16, progress=False, workers=0)
    assert np.all(np.asarray(rebuilt.images[0]) == 200)
    fresh = build_cache(source, tmp_path / "fresh", size=16, progress=False, workers=0)
    assert cache_bytes(cache) == cache_bytes(fresh.folder)


FULL = """
import resource, signal, sys
sys.path.insert(0, {src!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
from cnnlab.data import build_cache
from cnnlab.errors import CnnlabError
try:
    build_cache({source!r}, {cache!r}, size=(16, 16), progress=False, workers=0)
except CnnlabError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""


def test_a_full_disk_gives_one_error_and_no_trusted_cache(tmp_path):
    source = make_folder(tmp_path / "src")
    cache = tmp_path / "cache"
    script = FULL.format(src=SRC, source=str(source), cache=str(cache))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "disk is full" in line and str(cache) in line
    with pytest.raises(CnnlabError, match="unfinished cache"):
        open_cache(cache)
    assert len(build_cache(source, cache, size=16, progress=False, workers=0)) == 90


def test_bad_input_gets_one_clear_line(tmp_path):
    with pytest.raises(CnnlabError, match="must be a folder of class sub-folders"):
        build_cache(tmp_path / "missing", tmp_path / "cache", size=16)
    with pytest.raises(CnnlabError, match="holds no data cache"):
        open_cache(tmp_path)


def test_simplejpeg_decodes_the_pillow_bytes(tmp_path, monkeypatch):
    """The fast path (cnnlab[fast-jpeg]) changes the speed of a build, never its bytes."""
    pytest.importorskip("simplejpeg")
    from cnnlab.data import jpeg

    source = make_folder(tmp_path / "src")
    Image.new("CMYK", (20, 20), (10, 200, 30, 5)).save(source / "cat" / "cmyk.jpg")
    fast = build_cache(source, tmp_path / "fast", size=16, progress=False, workers=0)
    monkeypatch.setattr(jpeg, "simplejpeg", None)
    pillow = build_cache(source, tmp_path / "pillow", size=16, progress=False, workers=0)
    assert cache_bytes(fast.folder) == cache_bytes(pillow.folder)


def test_two_builders_at_once_make_one_cache(tmp_path):
    """As two torchrun processes would: the second waits for the first, then reads it."""
    source = make_folder(tmp_path / "src")
    whole = build_cache(source, tmp_path / "whole", size=16, progress=False, workers=0)
    cache = tmp_path / "cache"
    script = BUILD.format(src=SRC, source=str(source), cache=str(cache), workers=0)
    builders = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [b.wait(timeout=120) for b in builders] == [0, 0]
    assert cache_bytes(open_cache(cache, source).folder) == cache_bytes(whole.folder)
