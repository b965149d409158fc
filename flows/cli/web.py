"""``duban web``: the pages for units (signed links) and coordinators (login)."""

import socket
from typing import Annotated

import typer

from flows.cli.base import app, console, fail, running


@app.command("web")
def web(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: web_host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default web_port).")] = None,
) -> None:
    """Serve the web pages until Ctrl-C. Units open the links in their digests; coordinators log
    in (create one with `duban user add`)."""
    import uvicorn

    from flows.web.app import create_web_app

    with running() as duban:
        bind_host = host or duban.settings.web_host
        bind_port = port or duban.settings.web_port
        problem = _cannot_listen(bind_host, bind_port)
        if problem:
            fail(f"cannot listen on {bind_host}:{bind_port}: {problem} (DUBAN_WEB_HOST/_PORT)")
        console.print(
            f"duban web on http://{bind_host}:{bind_port} (links in digests point at "
            f"{duban.settings.resolved_web_base_url}); Ctrl-C to stop",
            markup=False,
        )
        uvicorn.run(
            create_web_app(duban),
            host=bind_host,
            port=bind_port,
            log_level="warning",
            # Behind the HTTPS proxy every request comes from the proxy: the client's address
            # (what failed logins are counted by) and the scheme are what the proxy says.
            proxy_headers=True,
            forwarded_allow_ips=duban.settings.web_forwarded_allow_ips,
        )


def _cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (taken, not this machine's), or None: checked
    before the banner, so that a busy port is said plainly instead of after a success line."""
    try:
        with socket.create_server((host, port), reuse_port=False):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)
