"""The course as Jupyter notebooks (notebooks/*.ipynb, docs/notebooks.md).

Every notebook is stored without outputs and execution counts, and executes top to bottom in
quick mode (``CNNLAB_QUICK=1``) with a real kernel: the ``python3`` kernel of this interpreter
(ipykernel), started in a temporary folder so that nothing is written into the checkout. A
cell error fails the test, and so does any warning that cnnlab emits (a ``CnnlabWarning``,
or a warning whose text points into cnnlab's sources). Cells tagged ``display`` end with a
cnnlab object (a summary, a History, a Dataset, an arith result...), and must show it richly:
HTML, SVG or PNG, not only text.

Real data (MNIST, the SMS collection, ISBI 2012) is read from ``CNNLAB_DATA_DIR`` when it is
set; without it the notebooks fall back to data that is always there and say so. The kernel
runs with one torch thread (``OMP_NUM_THREADS=1``, unless set), which is faster than two on a
machine whose cores other jobs share (see docs/experiments.md).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {
    "00-mechanics",
    "01-cnn-mnist",
    "02-lenet5",
    "03-spam-detection",
    "04-residual-networks",
    "05-inception",
    "06-unet",
    "07-dropout",
    "08-batch-normalization",
    "09-global-pooling",
    "10-datasets",
}
QUICK_LINE = 'QUICK = os.environ.get("CNNLAB_QUICK") == "1"'
DISPLAY_TAG = "display"
RICH = ("text/html", "image/svg+xml", "image/png")
CELL_TIMEOUT = 600  # seconds; a quick notebook takes well under a minute in all
# A warning as Python prints it: "path:line: Category: message". It is cnnlab's when the
# category is CnnlabWarning or the path is inside the cnnlab package.
WARNING_LINE = re.compile(r"(?P<path>\S+\.py):\d+: (?P<category>\w*Warning)\b")
CNNLAB_PATH = re.compile(r"[\\/]cnnlab[\\/]")


def _stem(path: Path) -> str:
    return path.stem


def _code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_every_exercise_has_its_notebook():
    assert {p.stem for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_stem)
def test_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} keep outputs or execution counts; clear them "
        "(jupyter nbconvert --clear-output --inplace notebooks/*.ipynb)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_stem)
def test_quick_setting_is_in_the_first_code_cell(path):
    notebook = nbformat.read(path, as_version=4)
    first = _code_cells(notebook)[0].source
    assert QUICK_LINE in first, f"{path.name}: the first code cell must set {QUICK_LINE}"
    tagged = [c for c in _code_cells(notebook) if DISPLAY_TAG in c.metadata.get("tags", [])]
    assert tagged, f"{path.name}: no cell is tagged {DISPLAY_TAG!r}"


def _kernel_manager(folder: Path):
    """A kernel manager whose only kernel is ``python3`` run by this interpreter, so that a
    user-level kernelspec of the same name cannot send the notebooks to another Python."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kernels = folder / "kernels"
    write_kernel_spec(kernels / "python3")
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    spec = specs.get_kernel_spec("python3")
    assert Path(spec.argv[0]) == Path(sys.executable)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CNNLAB_QUICK"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("CNNLAB_MIRROR", None)  # the notebooks never download: no test server is needed
    return env


class Executed:
    """Each notebook executed once per test session; both the run test and the display test
    read the result (``--dist loadfile`` keeps this module on one worker)."""

    def __init__(self, factory) -> None:
        self.factory = factory
        self.results: dict[Path, tuple[object, BaseException | None, float]] = {}

    def __call__(self, path: Path):
        if path not in self.results:
            pytest.importorskip("nbclient")
            pytest.importorskip("ipykernel")
            from nbclient import NotebookClient

            folder = self.factory.mktemp(path.stem)
            notebook = nbformat.read(path, as_version=4)
            client = NotebookClient(
                notebook,
                km=_kernel_manager(folder),
                timeout=CELL_TIMEOUT,
                resources={"metadata": {"path": str(folder)}},
            )
            started, error = time.perf_counter(), None
            try:
                client.execute(env=_kernel_env())
            except Exception as exc:  # a CellExecutionError names the cell and the traceback
                error = exc
            finally:  # nbclient stops only the kernels it started itself
                if client.km.has_kernel:
                    client.km.shutdown_kernel(now=True)
            seconds = time.perf_counter() - started
            nbformat.write(notebook, folder / path.name)  # kept for a look after a failure
            self.results[path] = (notebook, error, seconds)
        return self.results[path]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return Executed(tmp_path_factory)


def _stderr(notebook) -> list[str]:
    return [
        output.get("text", "")
        for cell in _code_cells(notebook)
        for output in cell.outputs
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]


def cnnlab_warnings(texts: list[str]) -> list[str]:
    """The lines of ``texts`` that are warnings cnnlab emitted."""
    found = []
    for text in texts:
        for line in text.splitlines():
            if "Warning" not in line:
                continue
            match = WARNING_LINE.search(line)
            ours = "CnnlabWarning" in line or (
                match is not None and CNNLAB_PATH.search(match["path"]) is not None
            )
            if ours:
                found.append(line.strip())
    return found


def test_warning_lines_are_recognized():
    texts = [
        "/x/src/cnnlab/train/feed.py:309: CnnlabWarning: the validation set lacks classes 3\n"
        "  warnings.warn(\n",
        "/x/site-packages/cnnlab/data/isbi.py:12: UserWarning: something\n",
        "/x/site-packages/torch/nn/modules/conv.py:5: UserWarning: not ours\n",
        "epoch 1/2  loss 0.1  accuracy 99.00%\n",
    ]
    assert cnnlab_warnings(texts) == [
        "/x/src/cnnlab/train/feed.py:309: CnnlabWarning: the validation set lacks classes 3",
        "/x/site-packages/cnnlab/data/isbi.py:12: UserWarning: something",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_stem)
def test_executes_in_quick_mode(path, executed):
    notebook, error, seconds = executed(path)
    if error is not None:
        pytest.fail(f"{path.name} failed after {seconds:.0f} s:\n{error}", pytrace=False)
    ours = cnnlab_warnings(_stderr(notebook))
    assert not ours, f"{path.name}: cnnlab warned:\n" + "\n".join(ours)
    print(f"{path.name}: {seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_stem)
def test_display_cells_show_rich_output(path, executed):
    notebook, error, _ = executed(path)
    if error is not None:
        pytest.skip(f"{path.name} did not execute (see test_executes_in_quick_mode)")
    plain = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or DISPLAY_TAG not in cell.metadata.get("tags", []):
            continue
        shown = [
            set(output.get("data", {}))
            for output in cell.outputs
            if output.get("output_type") in ("execute_result", "display_data")
        ]
        if not any(kinds & set(RICH) for kinds in shown):
            last = cell.source.strip().splitlines()[-1]
            kinds = sorted(set().union(*shown)) if shown else "nothing"
            plain.append(f"cell {index} ({last!r}): {kinds}")
    assert not plain, f"{path.name}: cells tagged {DISPLAY_TAG!r} show no HTML, SVG or PNG:\n" + (
        "\n".join(plain)
    )
