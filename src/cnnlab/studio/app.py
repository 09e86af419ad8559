"""The studio's Starlette application: the page, its static files and the JSON API.

GET  /api/health                      {"status": "ok", "version", "runs_folder"}
GET  /api/runs                        {"runs": [summary, ...]}
GET  /api/runs/{id}                   summary + config + results (metrics.json)
GET  /api/runs/{id}/history           its per-epoch history and whether it is training
GET  /api/runs/{id}/report            the run's self-contained report.html
GET  /api/runs/{id}/diagram.svg       the model diagram
GET  /api/runs/{id}/filters           learned filters of every conv layer
POST /api/runs/{id}/predict[?maps=1]  multipart field "image": probabilities (+ feature maps)
GET  /api/compare?runs=ID&runs=ID     curves, final metrics and config differences of runs
GET  /api/arith?kind=conv&input=...   the JSON of ``cnnlab arith KIND ... --json``
GET  /api/arith/steps?kind=conv&...   grids to step a kernel over
GET  /api/kernels                     named kernels, samples, range modes
GET|POST /api/kernels/apply           an image filtered by one kernel

Every answer is bounded by what it shows (grid cells, windows, pictures, decoded bytes); an
API request that a page of another site made the browser send is refused (403).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cnnlab import __version__
from cnnlab.studio import catalog, insides, playground, uploads
from cnnlab.studio.arithmetic import arith_json, flag
from cnnlab.studio.cache import ModelCache
from cnnlab.studio.compare import compare_json, history_json
from cnnlab.studio.diagrams import DiagramCache, saved
from cnnlab.studio.errors import StudioError
from cnnlab.studio.index import RunIndex
from cnnlab.studio.steps import steps_json
from cnnlab.studio.web import (
    EXCEPTION_HANDLERS,
    LOCAL_HOSTS,
    ApiResponse,
    BodyLimit,
    HostCheck,
    OriginCheck,
)

STATIC = Path(__file__).parent / "static"
FORM_OVERHEAD = 64 * 1024
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


@dataclass
class Studio:
    """What the endpoints share: the runs folder, its index and the models and diagrams
    loaded."""

    runs: Path
    index: RunIndex
    models: ModelCache
    diagrams: DiagramCache
    summaries: catalog.Summaries = field(default_factory=catalog.Summaries)


def _studio(request: Request) -> Studio:
    return request.app.state.studio


def _run(request: Request) -> catalog.RunEntry:
    return _studio(request).index.find(request.path_params["run_id"])


async def index(_request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})


def health(request: Request) -> Response:
    runs = str(_studio(request).runs)
    return ApiResponse({"status": "ok", "version": __version__, "runs_folder": runs})


def runs_list(request: Request) -> Response:
    studio = _studio(request)
    return ApiResponse({"runs": studio.summaries.of(studio.index.entries())})


def run_detail(request: Request) -> Response:
    return ApiResponse(catalog.describe(_run(request)))


def run_history(request: Request) -> Response:
    return ApiResponse(history_json(_run(request)))


def compare(request: Request) -> Response:
    ids = request.query_params.getlist("runs")
    return ApiResponse(compare_json(_studio(request).index, ids))


def report(request: Request) -> Response:
    entry = _run(request)
    page = entry.layout.report_html
    if not page.is_file() or not catalog.inside(page, entry.path):
        raise StudioError(f"run {entry.id!r} has no {page.name}", 404)
    return FileResponse(page, headers={"Content-Security-Policy": REPORT_POLICY})


def diagram_svg(request: Request) -> Response:
    entry = _run(request)
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    file = saved(entry)
    if file is not None:
        return FileResponse(file, media_type="image/svg+xml", headers=headers)
    svg = _studio(request).diagrams.svg(entry)
    return Response(svg, media_type="image/svg+xml", headers=headers)


def filters(request: Request) -> Response:
    run, _ = _studio(request).models.get(_run(request))
    return ApiResponse({"layers": insides.filters_json(run)})


async def _form_fields(request: Request) -> tuple[dict[str, str], bytes | None]:
    """The text fields of a multipart form and the bytes of its ``image`` file (or None)."""
    async with request.form(max_files=1, max_fields=20) as form:
        upload = form.get("image")
        if upload is not None and not isinstance(upload, UploadFile):
            raise StudioError("image must be a file, sent as multipart/form-data")
        data = await upload.read(uploads.MAX_UPLOAD_BYTES + 1) if upload is not None else None
        return {k: v for k, v in form.items() if isinstance(v, str)}, data


def _predict(studio: Studio, entry: catalog.RunEntry, data: bytes, maps: bool, invert: str):
    image = uploads.open_upload(data)
    run, lock = studio.models.get(entry)
    insides.check_classifier(run)
    insides.check_input(run, image.size)
    tensor = uploads.model_image(image, run.input_spec.channels, run.input_spec.size)
    return insides.classify(run, tensor, lock, maps, invert)


def post_only(_request: Request) -> Response:
    """A GET of a POST route: 405, where the run route would take ``.../predict`` for an id."""
    raise HTTPException(405, headers={"Allow": "POST"})


async def predict(request: Request) -> Response:
    entry = await run_in_threadpool(_run, request)
    _, data = await _form_fields(request)
    if data is None:
        raise StudioError("send the image as the multipart/form-data field 'image'")
    query = request.query_params
    maps, invert = flag(query, "maps"), query.get("invert", "auto")
    result = await run_in_threadpool(_predict, _studio(request), entry, data, maps, invert)
    return ApiResponse(result)


def arith(request: Request) -> Response:
    return ApiResponse(arith_json(request.query_params))


def arith_steps(request: Request) -> Response:
    return ApiResponse(steps_json(request.query_params))


def kernels(_request: Request) -> Response:
    return ApiResponse(playground.kernel_catalog())


def _filter(fields: dict[str, str], data: bytes | None) -> dict:
    if data is not None:
        image = uploads.playground_image(uploads.open_upload(data))
    else:
        image = playground.sample(fields.get("sample", "digit"))
    return playground.apply(
        image,
        fields.get("kernel", "sobel-x"),
        fields.get("range", "clip"),
        flag(fields, "sum_channels"),
    )


async def kernel_apply(request: Request) -> Response:
    if request.method == "POST":
        fields, data = await _form_fields(request)
    else:
        fields, data = dict(request.query_params), None
    return ApiResponse(await run_in_threadpool(_filter, fields, data))


ROUTES = [
    Route("/", index),
    Route("/api/health", health),
    Route("/api/runs", runs_list),
    Route("/api/runs/{run_id:path}/predict", predict, methods=["POST"]),
    Route("/api/runs/{run_id:path}/predict", post_only, methods=["GET"]),
    Route("/api/runs/{run_id:path}/filters", filters),
    Route("/api/runs/{run_id:path}/history", run_history),
    Route("/api/runs/{run_id:path}/report", report),
    Route("/api/runs/{run_id:path}/diagram.svg", diagram_svg),
    Route("/api/runs/{run_id:path}", run_detail),
    Route("/api/compare", compare),
    Route("/api/arith", arith),
    Route("/api/arith/steps", arith_steps),
    Route("/api/kernels", kernels),
    Route("/api/kernels/apply", kernel_apply, methods=["GET", "POST"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


@asynccontextmanager
async def one_torch_thread(_app: Starlette) -> AsyncIterator[None]:
    """While the server runs, torch computes on one thread: the studio answers many small
    requests at once, and intra-op threads meant for one large computation would fight over
    the same cores. The previous setting is restored when the server stops."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def create_app(
    runs_dir: str | os.PathLike = "runs", hosts: Sequence[str] | None = LOCAL_HOSTS
) -> Starlette:
    """The studio for the runs under ``runs_dir``.

    Args:
        runs_dir: searched recursively for run folders (``config.json`` + ``checkpoints/``).
        hosts: the host names requests may be addressed to; None accepts any (needed when the
            server listens on another interface).
    """
    limit = uploads.MAX_UPLOAD_BYTES + FORM_OVERHEAD
    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(HostCheck, hosts=hosts),
            Middleware(OriginCheck),
            Middleware(BodyLimit, limit=limit),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=one_torch_thread,
    )
    root, models = Path(runs_dir).resolve(), ModelCache()
    app.state.studio = Studio(root, RunIndex(root), models, DiagramCache(models))
    return app
