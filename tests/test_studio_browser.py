"""``cnnlab studio`` end to end in headless Chromium: the runs list and a run's page, a digit
drawn with the mouse and predicted by a run trained here, a kernel changed in the playground,
and the arithmetic stepper. Screenshots go to /tmp/studio_*.png for a person to look at."""

import itertools
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from PIL import Image, ImageDraw

from chromium_cdp import Browser, Page, find_chromium
from cnnlab.cli.main import main
from cnnlab.studio import create_app

CHROMIUM = find_chromium()
SHOTS = Path("/tmp")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium on PATH (Debian: apt-get install chromium); .ci/run installs it",
    ),
]


@pytest.fixture(scope="module")
def run_id(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("studio-browser") / "runs"
    args = ["train", "lenet5", "--dataset", "digits", "--epochs", "3", "--quiet", "--out"]
    assert main([*args, str(root)]) == 0
    (folder,) = root.iterdir()
    return root, folder.name


@pytest.fixture(scope="module")
def server(run_id):
    """The studio served by uvicorn in a thread, on a free port of 127.0.0.1."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(run_id[0]), log_level="warning")
    studio = uvicorn.Server(config)
    thread = threading.Thread(target=studio.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not studio.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    studio.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    browser = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield Page(browser)
    finally:
        browser.close()


def text(page: Page, selector: str) -> str:
    return page.eval(f"document.querySelector({json.dumps(selector)}).textContent")


def count(selector: str) -> str:
    return f"document.querySelectorAll({json.dumps(selector)}).length"


def choose(page: Page, selector: str, value: str) -> None:
    """Pick ``value`` in a select, as a user's choice would (a change event)."""
    page.eval(
        f"(() => {{ const s = document.querySelector({json.dumps(selector)}); "
        f"s.value = {json.dumps(value)}; "
        "s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )


def test_runs_list_and_run_page(page, server, run_id):
    page.goto(f"{server}/#/runs")
    page.wait_for(f"{count('#runs-table tbody tr')} === 1")
    assert text(page, "#runs-table tbody tr").startswith(run_id[1] + "lenet5digits")
    page.screenshot(SHOTS / "studio_runs.png")
    page.click("#runs-table tbody a")
    page.wait_for("document.getElementById('run-title').textContent === 'lenet5 on digits'")
    page.wait_for("document.getElementById('run-metrics').children.length > 0")
    report = f"/api/runs/{run_id[1]}/report"
    deadline = time.monotonic() + 10
    while not any(url.endswith(report) for url in page.frames()):
        assert time.monotonic() < deadline, page.frames()
        time.sleep(0.1)
    time.sleep(0.3)  # let the report frame paint
    page.screenshot(SHOTS / "studio_run_report.png")
    page.click("[data-tab=diagram]")
    page.wait_for("document.getElementById('run-diagram').naturalWidth > 0")
    page.screenshot(SHOTS / "studio_run_diagram.png")
    page.click("[data-tab=config]")
    assert '"model": "lenet5"' in text(page, "#run-config")
    assert page.errors() == []


def draw(page: Page, points: list[tuple[float, float]]) -> None:
    """A mouse stroke through ``points`` given in pad pixels (0..280)."""
    x, y = page.eval(
        "(() => { const r = document.getElementById('pad').getBoundingClientRect(); "
        "return [r.x, r.y]; })()"
    )
    steps = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps += [(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8) for t in range(8)]
    page.drag([(x + px, y + py) for px, py in [*steps, points[-1]]])


def test_draw_a_digit_and_look_inside(page, server, run_id, tmp_path):
    page.goto(f"{server}/#/predict/{run_id[1]}")
    page.wait_for(f"{count('#predict-filters img')} === 22")  # 6 + 16 filters
    assert text(page, "#predict-top") == "—"
    draw(page, [(70, 60), (210, 60), (120, 230)])  # a 7
    page.wait_for(f"{count('#predict-maps img')} === 22")  # 6 + 16 feature maps
    top = text(page, "#predict-top")
    assert top[0].isdigit() and top.endswith("%)"), top
    assert page.eval(count("#predict-bars .track")) == 10
    assert "1 x 32 x 32" in text(page, "#predict-input-caption")
    page.screenshot(SHOTS / "studio_predict.png")
    first = page.eval("document.getElementById('predict-input').src")
    page.click("#pad-clear")
    draw(page, [(140, 40), (140, 240)])  # a 1
    page.wait_for(f"document.getElementById('predict-input').src !== {json.dumps(first)}")
    drawn = page.eval("document.getElementById('predict-input').src")
    photo = tmp_path / "zero.png"  # a dark 0 on white paper: the server inverts it
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).ellipse((20, 20, 100, 140), outline=0, width=12)
    image.save(photo)
    page.upload("#pad-upload", photo)
    page.wait_for(f"document.getElementById('predict-input').src !== {json.dumps(drawn)}")
    assert "inverted" in text(page, "#predict-input-caption")
    assert page.errors() == []


def test_changing_a_kernel_changes_the_output(page, server):
    page.goto(f"{server}/#/kernels")
    page.wait_for("document.getElementById('k-result').src.startsWith('data:image/png')")
    sobel = page.eval("document.getElementById('k-result').src")
    choose(page, "#k-name", "gaussian-blur-5x5")
    page.wait_for(f"document.getElementById('k-result').src !== {json.dumps(sobel)}")
    assert page.eval(count("#k-grid input")) == 25
    assert text(page, "#k-title").startswith("output: gaussian-blur-5x5; abs, raw ")
    blurred = page.eval("document.getElementById('k-result').src")
    page.eval(
        "(() => { const cell = document.querySelectorAll('#k-grid input')[12]; "
        "cell.value = '-3'; cell.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    page.wait_for(f"document.getElementById('k-result').src !== {json.dumps(blurred)}")
    assert page.eval("document.getElementById('k-name').value") == "custom"
    assert text(page, "#k-title").startswith("output: custom kernel; abs, raw ")
    page.screenshot(SHOTS / "studio_kernels.png")
    assert page.errors() == []


def test_arithmetic_and_the_stepper(page, server):
    page.goto(f"{server}/#/arith")
    page.wait_for(f"{count('#a-grid div')} === 81")  # 7x7 input padded by 1: 9 x 9
    facts = json.loads(text(page, "#a-json"))
    assert facts["output_shape"] == [4, 4, 4] and facts["params"] == 40
    assert "position 1 of 16" in text(page, "#a-position")
    page.click("#a-next")
    page.click("#a-next")
    assert "output (0, 2): position 3 of 16" in text(page, "#a-position")
    assert page.eval(count("#a-grid .hit")) == 9
    assert page.eval(count("#a-output .done")) == 2
    page.screenshot(SHOTS / "studio_arith.png")
    choose(page, "#a-form [name=kind]", "transposed")
    page.wait_for("document.getElementById('a-grid-title').textContent.includes('zeros')")
    page.wait_for("document.getElementById('a-output-title').textContent === 'output: 13 x 13'")
    assert page.eval(count("#a-grid .zero")) > 0
    page.screenshot(SHOTS / "studio_arith_transposed.png")
    assert page.errors() == []
