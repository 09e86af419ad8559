"""``cnnlab studio`` end to end in Debian's Chromium, driven by Playwright: the runs list and a
run's page, a digit drawn with the mouse and predicted by a run trained here, a kernel changed
in the playground, the arithmetic stepper, three runs compared, and a training run's curves
updating while it trains. Screenshots go to /tmp/studio_*.png for a person to look at.

Playwright drives the system browser (``executable_path``), so ``playwright install`` (a
browser download) is never needed."""

import itertools
import re
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cnnlab.cli.main import main
from cnnlab.runs.guard import RunLock
from cnnlab.runs.layout import RunLayout
from cnnlab.studio import create_app
from cnnlab.train.history import History

CHROMIUM = shutil.which("chromium")
SHOTS = Path("/tmp")
LEARNING_RATES = ("0.01", "0.001", "0.0003")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium on PATH (Debian: apt-get install chromium); .ci/run installs it",
    ),
]


def train(out: Path, epochs: int, *options: str) -> Path:
    args = ["train", "lenet5", "--dataset", "digits", "--epochs", str(epochs), "--quiet"]
    assert main([*args, *options, "--out", str(out)]) == 0
    (folder,) = out.iterdir()
    return folder


@pytest.fixture(scope="module")
def run_id(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("studio-browser") / "runs"
    return root, train(root, 3).name


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> Path:
    """Three LeNet-5 runs that differ only in their learning rate, one folder each."""
    root = tmp_path_factory.mktemp("studio-compare") / "runs"
    for lr in LEARNING_RATES:
        train(root / f"lr-{lr}", 2, "--lr", lr)
    return root


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """The studio of ``root`` served by uvicorn in a thread, on a free port of 127.0.0.1."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    studio = uvicorn.Server(uvicorn.Config(create_app(root), log_level="warning"))
    thread = threading.Thread(target=studio.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not studio.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        studio.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture(scope="module")
def server(run_id) -> Iterator[str]:
    with serve(run_id[0]) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def errors(page) -> list[str]:
    """Uncaught exceptions and console errors (failed loads, blocked content) of the page."""
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(str(error)))
    page.on("console", lambda message: message.type == "error" and found.append(message.text))
    return found


def text(page: Page, selector: str) -> str:
    return page.locator(selector).first.text_content()


def test_runs_list_and_run_page(page, errors, server, run_id):
    page.goto(f"{server}/#/runs")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    assert text(page, "#runs-table tbody tr").startswith(run_id[1] + "lenet5digits")
    page.screenshot(path=SHOTS / "studio_runs.png", full_page=True)
    page.click("#runs-table tbody a")
    expect(page.locator("#run-title")).to_have_text("lenet5 on digits")
    expect(page.locator("#run-metrics > div").first).to_be_visible()
    report = page.frame_locator("#run-report")  # sandboxed: no script of the report runs
    expect(report.locator("h1")).to_have_text("lenet5 on digits")
    page.screenshot(path=SHOTS / "studio_run_report.png", full_page=True)
    page.click("[data-tab=diagram]")
    page.wait_for_function("() => document.getElementById('run-diagram').naturalWidth > 0")
    page.screenshot(path=SHOTS / "studio_run_diagram.png", full_page=True)
    page.click("[data-tab=config]")
    assert '"model": "lenet5"' in text(page, "#run-config")
    assert errors == []


def draw(page: Page, points: list[tuple[float, float]]) -> None:
    """A mouse stroke through ``points`` given in pad pixels (0..280)."""
    box = page.locator("#pad").bounding_box()
    steps = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps += [(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8) for t in range(8)]
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in [*steps, points[-1]]:
        page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.up()


def changed(page: Page, selector: str, before: str) -> str:
    """The ``src`` of image ``selector`` once it is no longer ``before``."""
    page.wait_for_function(
        "([selector, before]) => document.querySelector(selector).src !== before",
        arg=[selector, before],
    )
    return page.locator(selector).get_attribute("src")


def test_draw_a_digit_and_look_inside(page, errors, server, run_id, tmp_path):
    page.goto(f"{server}/#/predict/{run_id[1]}")
    expect(page.locator("#predict-filters img")).to_have_count(22)  # 6 + 16 filters
    assert text(page, "#predict-top") == "—"
    draw(page, [(70, 60), (210, 60), (120, 230)])  # a 7
    expect(page.locator("#predict-maps img")).to_have_count(22)  # 6 + 16 feature maps
    top = text(page, "#predict-top")
    assert top[0].isdigit() and top.endswith("%)"), top
    expect(page.locator("#predict-bars .track")).to_have_count(10)
    assert "1 x 32 x 32" in text(page, "#predict-input-caption")
    page.screenshot(path=SHOTS / "studio_predict.png", full_page=True)
    first = page.locator("#predict-input").get_attribute("src")
    page.click("#pad-clear")
    draw(page, [(140, 40), (140, 240)])  # a 1
    drawn = changed(page, "#predict-input", first)
    photo = tmp_path / "zero.png"  # a dark 0 on white paper: the server inverts it
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).ellipse((20, 20, 100, 140), outline=0, width=12)
    image.save(photo)
    page.set_input_files("#pad-upload", photo)
    changed(page, "#predict-input", drawn)
    assert "inverted" in text(page, "#predict-input-caption")
    assert errors == []


def test_changing_a_kernel_changes_the_output(page, errors, server):
    page.goto(f"{server}/#/kernels")
    expect(page.locator("#k-result")).to_have_attribute("src", re.compile("^data:image/png"))
    sobel = page.locator("#k-result").get_attribute("src")
    page.select_option("#k-name", "gaussian-blur-5x5")
    blurred = changed(page, "#k-result", sobel)
    expect(page.locator("#k-grid input")).to_have_count(25)
    assert text(page, "#k-title").startswith("output: gaussian-blur-5x5; abs, raw ")
    page.locator("#k-grid input").nth(12).fill("-3")
    changed(page, "#k-result", blurred)
    expect(page.locator("#k-name")).to_have_value("custom")
    assert text(page, "#k-title").startswith("output: custom kernel; abs, raw ")
    page.screenshot(path=SHOTS / "studio_kernels.png", full_page=True)
    assert errors == []


def test_arithmetic_and_the_stepper(page, errors, server):
    page.goto(f"{server}/#/arith")
    expect(page.locator("#a-grid div")).to_have_count(81)  # 7x7 input padded by 1: 9 x 9
    facts = page.evaluate("JSON.parse(document.getElementById('a-json').textContent)")
    assert facts["output_shape"] == [4, 4, 4] and facts["params"] == 40
    expect(page.locator("#a-position")).to_contain_text("position 1 of 16")
    page.click("#a-next")
    page.click("#a-next")
    expect(page.locator("#a-position")).to_contain_text("output (0, 2): position 3 of 16")
    expect(page.locator("#a-grid .hit")).to_have_count(9)
    expect(page.locator("#a-output .done")).to_have_count(2)
    page.screenshot(path=SHOTS / "studio_arith.png", full_page=True)
    page.select_option("#a-form [name=kind]", "transposed")
    expect(page.locator("#a-grid-title")).to_contain_text("zeros")
    expect(page.locator("#a-output-title")).to_have_text("output: 13 x 13")
    assert page.locator("#a-grid .zero").count() > 0
    page.screenshot(path=SHOTS / "studio_arith_transposed.png", full_page=True)
    assert errors == []


def test_compare_three_runs(page, errors, compared):
    with serve(compared) as url:
        page.goto(f"{url}/#/runs")
        expect(page.locator("#runs-table tbody tr")).to_have_count(3)
        for lr in LEARNING_RATES:  # in this order: the runs' colours follow it
            page.locator(f"#runs-table input[data-id^='lr-{lr}/']").check()
        expect(page.locator("#runs-compare")).to_have_text("Compare 3 runs")
        page.click("#runs-compare")
        expect(page.locator("#compare-legend li")).to_have_count(3)
        loss = page.locator("#compare-charts figure").first
        expect(loss.locator("h3")).to_have_text("loss")
        curves = loss.locator("path.train, path.validation")
        expect(curves).to_have_count(6)
        drawn = curves.evaluate_all(
            "paths => paths.map(p => [p.getAttribute('stroke'), p.classList[0],"
            " p.getAttribute('stroke-dasharray'), p.getAttribute('d').split('L').length])"
        )
        colours = Counter(stroke for stroke, *_ in drawn)
        assert len(colours) == 3 and set(colours.values()) == {2}, drawn  # train + validation
        for stroke in colours:
            kinds = {(kind, dashes) for colour, kind, dashes, _ in drawn if colour == stroke}
            assert kinds == {("train", "6 4"), ("validation", None)}, drawn
        assert {points for *_, points in drawn} == {2}  # two epochs each
        assert page.locator("#compare-charts h3").all_text_contents()[:2] == ["loss", "accuracy"]

        headers = page.locator("#compare-metrics thead th")
        expect(headers).to_have_count(4)  # the metric, then one column per run
        folders = [header.split("/")[0] for header in headers.all_text_contents()[1:]]
        assert folders == [f"lr-{lr}" for lr in LEARNING_RATES]
        for name in ("loss ↓", "accuracy ↑"):
            row = page.locator("#compare-metrics tbody tr", has_text=name).first
            expect(row.locator("td")).to_have_count(3)
            expect(row.locator("td.best")).to_have_count(1)

        lr = page.locator("#compare-config tbody tr", has=page.get_by_text("train.lr", exact=True))
        assert lr.locator("td").all_text_contents() == list(LEARNING_RATES)
        keys = page.locator("#compare-config tbody th").all_text_contents()
        assert "train.epochs" not in keys and "created" not in keys, keys
        page.screenshot(path=SHOTS / "studio_compare.png", full_page=True)
    assert errors == []


def test_a_training_run_updates_while_it_trains(page, errors, compared, tmp_path):
    (source,) = (compared / "lr-0.001").iterdir()
    layout = RunLayout(tmp_path / "runs" / "live")
    shutil.copytree(source, layout.root)
    lock = RunLock(layout.lock)  # as a training process holds it
    lock.acquire()
    try:
        with serve(layout.root.parent) as url:
            page.goto(f"{url}/#/compare/{quote('runs=live')}")
            expect(page.locator("#compare-legend .badge")).to_have_text("training…")
            expect(page.locator("#compare-live")).to_be_visible()
            points = page.locator("#compare-charts figure").first.locator("circle.validation")
            expect(points).to_have_count(2)
            history = History.from_csv(layout.history)  # the next epoch ends
            history.append({**history.rows[-1], "epoch": 3, "loss": 0.05, "val_loss": 0.04})
            history.to_csv(layout.history)
            expect(points).to_have_count(3, timeout=10_000)
            page.screenshot(path=SHOTS / "studio_compare_live.png", full_page=True)
            lock.release()  # the training ends: the view reloads once and stops polling
            expect(page.locator("#compare-legend .badge")).to_have_count(0, timeout=10_000)
            expect(page.locator("#compare-live")).to_be_hidden()
            expect(points).to_have_count(3)
    finally:
        lock.release()
    assert errors == []
