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


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound (port 0: one the system picks), or one line when the
    address is taken. It names ``IPPROTO_TCP``: asyncio turns Nagle's algorithm off only on
    such sockets, and without that a keep-alive answer can wait for a delayed ACK (~40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise CnnlabError(
            f"cannot listen on {host}:{port} ({error.strerror}); pick another --port"
        ) from None
    return listener


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
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: a free one, printed).",
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
    listener = _listen(host, port)
    folder = Path(runs_dir)
    if not folder.is_dir():
        click.echo(f"note: {folder} does not exist yet; train a run with `cnnlab train`")
    shown = f"[{host}]" if ":" in host else host
    port = listener.getsockname()[1]
    click.echo(f"cnnlab studio on http://{shown}:{port}  (runs: {folder}; Ctrl+C to stop)")
    app = create_app(folder, (*LOCAL_HOSTS, host.lower()) if local else None)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
