"""``duban worker``: run the flow runs that ``duban run`` creates on a Prefect server.

Each worker serves one deployment of every flow in :data:`flows.dispatch.FLOWS` and polls the
server for their flow runs; any number of workers may serve them, and the server hands each
flow run to exactly one. A flow run starts in a fresh process, which builds its own App from the
same settings (the environment and the settings file).
"""

import contextlib
import logging
import os
import socket
from typing import Annotated

import typer

from flows.cli.base import app, config_file, errors, fail, running
from flows.dispatch import API_URL, FLOWS, prefect_server, shared_secret_problem


@app.command()
def worker(
    limit: Annotated[
        int,
        typer.Option(min=1, help="How many flow runs this worker runs at once (one process each)."),
    ] = 4,
) -> None:
    """Run duban's flows for the scheduler, on the Prefect server named by PREFECT_API_URL.

    Start as many as you like, on one machine or several: they share the work. Stop one with
    SIGTERM or Ctrl-C; the flow runs it was running are cancelled, and messages they had
    claimed are sent by a later run once their claim expires. Every worker needs the same
    DUBAN_SECRET_KEY as `duban web` and `duban run`: it signs the links in the digests.
    """
    server = prefect_server()
    if server is None:
        fail(
            f"duban worker needs a Prefect server: set {API_URL} "
            "(e.g. http://127.0.0.1:4200/api; see docs/deploy.md)"
        )
    with running() as duban:  # the settings and the database are checked here, before serving
        settings = duban.settings
        problem = shared_secret_problem(settings, "duban worker")
        if problem:
            fail(problem)
    from flows.logs import configure_service_logging
    from flows.prefect_setup import configure_prefect

    # Logs as `duban run` keeps them; the flow runs' processes inherit the environment set here.
    logs = configure_service_logging(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll of the server
    configure_prefect(settings)
    config = config_file()
    if config is not None:  # the flow runs' processes read the same settings file
        os.environ["DUBAN_CONFIG_FILE"] = str(config.resolve())

    import asyncio

    import httpx
    from prefect.exceptions import PrefectHTTPStatusError, TerminationSignal
    from prefect.runner import Runner

    from flows.deployments import DEPLOYMENT, deployments

    name = f"duban-worker-{socket.gethostname()}-{os.getpid()}"
    runner = Runner(name=name, limit=limit, pause_on_shutdown=False)  # others go on serving
    try:
        for deployment in deployments():
            runner.add_deployment(deployment)  # created or updated on the server
    except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
        fail(f"cannot serve on the Prefect server at {server} ({API_URL}): {exc}")
    errors.print(
        f"{name}: serving {', '.join(FLOWS)} (deployment {DEPLOYMENT!r}) from {server}, "
        f"at most {limit} flow runs at once; logs in {logs}",
        markup=False,
    )
    with contextlib.suppress(KeyboardInterrupt, TerminationSignal):  # Ctrl-C, SIGTERM
        asyncio.run(runner.start())
    errors.print(f"{name}: stopped", markup=False)
