"""``cnnlab studio``: serve the local web page that looks inside your runs."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import click

from cnnlab.errors import CnnlabError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_free(host: str, port: int) -> None:
    """Fail with one line, before the server starts, when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise CnnlabError(
                f"cannot listen on {host}:{port} ({error.strerror}); pick another --port"
            ) from None


@click.command()
@click.option(
    "--runs",
    "runs_dir",
    default="runs",
    show_default=True,
    help="Folder searched (recursively) for run folders: config.json + checkpoints/.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on. Anything but loopback shows your runs to the network.",
)
def studio(runs_dir, port, host):
    """Open a local web page on your runs: reports, predictions with feature maps and
    filters, a kernel playground and conv arithmetic stepped cell by cell.

    \b
    cnnlab studio                      # http://127.0.0.1:8765, runs under ./runs
    cnnlab studio --runs runs/demo --port 8000
    """
    import uvicorn

    from cnnlab.studio import create_app
    from cnnlab.studio.web import LOCAL_HOSTS

    local = _is_loopback(host)
    if not local:
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can see your runs "
            "and use its CPU; there is no login",
            err=True,
        )
    _check_free(host, port)
    folder = Path(runs_dir)
    if not folder.is_dir():
        click.echo(f"note: {folder} does not exist yet; train a run with `cnnlab train`")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"cnnlab studio on http://{shown}:{port}  (runs: {folder}; Ctrl+C to stop)")
    app = create_app(folder, (*LOCAL_HOSTS, host.lower()) if local else None)
    uvicorn.run(app, host=host, port=port, log_level="warning")
