"""Scale-out, end to end: a real Prefect server on loopback, two `duban worker` processes, and
the chase dispatched the way `duban run` dispatches it (flows.dispatch.run_flow).

Slow (about a minute per database, after the server's start of 10-30 s) and run on its own with

    .venv/bin/python -m pytest tests/test_scale_out.py

When the Prefect server does not come up, the test is skipped with a message, except in CI
(CI=true), where it fails.
"""

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from smtp_server import LoopbackSMTP
from sqlmodel import select

from flows.app import App
from flows.prefect_setup import QUIET_DEFAULTS, configure_prefect
from tracking.db import transaction
from tracking.importer import import_table
from tracking.ledger import Draft, record_draft
from tracking.models import DeliveryStatus, Notification
from tracking.units import load_units, read_units_file

pytestmark = pytest.mark.prefect
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 90
DELIVERY_TIMEOUT = 180
BATCH_UNITS = 2  # the seed's 7 units make 4 batches: more than the 2 workers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(**extra: str) -> dict[str, str]:
    """This environment without duban's or Prefect's settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "PREFECT_"))}
    return env | extra


def stop_group(process: subprocess.Popen[bytes], first: signal.Signals, grace: float) -> None:
    """Stop ``process`` (with ``first``, then SIGKILL) and every process of its group."""
    if process.poll() is None:
        process.send_signal(first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left: its flow run processes
    process.wait(10)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_group_gone(process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = subprocess.run(
        ["ps", "-o", "pid=,args=", "-g", str(process.pid)], capture_output=True, text=True
    ).stdout.strip()
    assert not group_alive(process.pid), f"{what} left processes behind:\n{left}"


def log_tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`prefect server start` on a free loopback port, with its own PREFECT_HOME (SQLite)."""
    folder = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = clean_environment(PREFECT_HOME=str(folder / "home"), **QUIET_DEFAULTS)
    env["PREFECT_SERVER_LOGGING_LEVEL"] = "WARNING"
    log = folder / "server.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        problem = wait_for_health(url, server)
        if problem:
            message = f"the Prefect server did not start: {problem}\n{log_tail(log)}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        info = {"url": url, "start_seconds": time.perf_counter() - started, "log": log}
        print(f"\nPrefect server up in {info['start_seconds']:.1f} s (fresh database)")
        yield info
    finally:
        before_stop = log.stat().st_size
        stop_group(server, signal.SIGTERM, grace=20)
        assert_group_gone(server, "the Prefect server")
        with log.open("rb") as handle:  # it stops without a traceback
            handle.seek(before_stop)
            assert b"Traceback" not in handle.read(), log_tail(log)


def wait_for_health(url: str, server: subprocess.Popen[bytes]) -> str | None:
    """None once ``url``/health answers, else why it did not."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return f"it exited with status {server.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return None
        except OSError:
            pass
        time.sleep(0.5)
    return f"no answer at {url}/health within {SERVER_START_TIMEOUT} s"


@pytest.fixture
def smtp() -> Iterator[LoopbackSMTP]:
    with LoopbackSMTP() as server:
        yield server


@pytest.fixture
def seeded(make_app: Callable[..., App], seed: Path) -> App:
    """The demo table and units on the test database, as test_flows.py loads them."""
    app = make_app()
    import_table(
        app.engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW, include_feedback=False
    )
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    return app


@pytest.fixture
def workers(
    prefect_server: dict[str, Any],
    seeded: App,
    smtp: LoopbackSMTP,
    database_url: str,
    tmp_path: Path,
) -> Iterator[list[dict[str, Any]]]:
    """Two `duban worker` processes on the server, the test database and the SMTP server."""
    started = []
    try:
        for index in (1, 2):
            state = tmp_path / f"worker-{index}"
            state.mkdir()
            env = clean_environment(
                PREFECT_API_URL=prefect_server["url"],
                PREFECT_RUNNER_POLL_FREQUENCY="1",  # the default 10 s would make the test slow
                DUBAN_DATABASE_URL=database_url,
                DUBAN_STATE_DIR=str(state),
                DUBAN_MAIL_BACKEND="smtp",
                DUBAN_SMTP_HOST=smtp.host,
                DUBAN_SMTP_PORT=str(smtp.port),
                DUBAN_SMTP_TIMEOUT="10",
            )
            log = state / "worker.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(BIN / "duban"), "worker", "--limit", "2"],
                    env=env,
                    cwd=state,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append({"process": process, "log": log, "state": state})
        for worker in started:  # each has registered the deployments and starts polling
            wait_for_serving(worker)
        yield started
    finally:
        for worker in started:
            stop_group(worker["process"], signal.SIGTERM, grace=20)
        for worker in started:
            assert_group_gone(worker["process"], f"the worker logging to {worker['log']}")
        for worker in started:  # a stopped worker says so, without a traceback
            console = worker["log"].read_text(encoding="utf-8", errors="replace")
            assert console.rstrip().endswith(": stopped"), console
            assert "Traceback" not in worker_log(worker), worker_log(worker)


def wait_for_serving(worker: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while ": serving " not in worker_log(worker):
        process = worker["process"]
        assert process.poll() is None, f"the worker exited:\n{worker_log(worker)}"
        assert time.monotonic() < deadline, f"the worker did not start:\n{worker_log(worker)}"
        time.sleep(0.2)


def worker_log(worker: dict[str, Any]) -> str:
    """What a worker wrote: its console, and any log files under its state folder."""
    paths = [worker["log"], *sorted((worker["state"] / "logs").glob("*.log"))]
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in paths if p.exists())


def test_unit_batches_keep_each_units_messages_together(seeded: App) -> None:
    from flows.deliver_flow import unit_batches

    # Units 3, 1, 3 (its webhook, say), 2, and the coordinator (no unit), in ledger order.
    units = [3, 1, 3, 2, None]
    ids = []
    with transaction(seeded.engine) as session:
        for index, unit_id in enumerate(units):
            draft = Draft(
                unit_id, "email", "digest", f"key-{index}", ("a@example.org",), "s", "t", ""
            )
            note = record_draft(session, draft, now=NOW, audience=f"audience-{index}")
            assert note is not None and note.id is not None
            ids.append(note.id)

    assert unit_batches(seeded, ids, 2) == [[ids[1], ids[3]], [ids[0], ids[2], ids[4]]]
    assert unit_batches(seeded, ids, 20) == [sorted(ids)]
    assert [len(batch) for batch in unit_batches(seeded, ids, 1)] == [1, 1, 2, 1]
    assert unit_batches(seeded, [], 2) == []


def flow_runs(url: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        return client.read_flow_runs(limit=200)


def test_scale_out_chase_runs_once_on_the_workers_in_unit_batches(
    prefect_server: dict[str, Any],
    workers: list[dict[str, Any]],
    seeded: App,
    smtp: LoopbackSMTP,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    url = prefect_server["url"]
    # Prefect is imported (with duban's quiet settings) before PREFECT_API_URL is set, so that
    # the server chosen here cannot outlive this test in Prefect's settings.
    configure_prefect(seeded.settings)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.dispatch import run_flow

    monkeypatch.setenv("PREFECT_API_URL", url)
    key = f"chase:2022-06-15:{request.node.callspec.id}"
    parameters = {"as_of": date(2022, 6, 15), "now": NOW, "batch_units": BATCH_UNITS}
    started = time.perf_counter()
    # Prefect's settings may have been set up by an earlier test (the test harness): name ours.
    with temporary_settings(updates={PREFECT_API_URL: url}):
        first = run_flow(seeded, "chase", parameters, key=key)
        second = run_flow(seeded, "chase", parameters, key=key)
    dispatched = time.perf_counter() - started

    assert first.startswith("created flow run ") and "on chase-units/duban" in first, first
    assert second.startswith("flow run ") and "exists already" in second, second

    # Wait for the chase and its batches to end (each batch ends after its last message).
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    chases: list[Any] = []
    batches: list[Any] = []
    while time.monotonic() < deadline:
        runs = flow_runs(url)
        chases = [run for run in runs if run.idempotency_key == key]
        batches = [
            run
            for run in runs
            for chase in chases
            if (run.idempotency_key or "").startswith(f"{chase.id}:")
        ]
        if chases and all(run.state and run.state.is_final() for run in [*chases, *batches]):
            break
        time.sleep(0.5)
    delivered = time.perf_counter() - started
    logs = [worker_log(worker) for worker in workers]
    assert len(chases) == 1, [run.name for run in chases]  # one flow run for the key
    chase = chases[0]
    assert chase.state is not None and chase.state.is_completed(), (
        f"{chase.state}\n\n" + "\n\n".join(logs)
    )
    assert all(run.state and run.state.is_completed() for run in batches), (
        [(run.name, run.state) for run in batches],
        "\n\n".join(logs),
    )

    with transaction(seeded.engine) as session:
        notes = session.exec(select(Notification)).all()
    units = {note.unit_id for note in notes}
    assert len(batches) == math.ceil(len(units) / BATCH_UNITS) == 4, [r.name for r in batches]
    # Every digest arrived once: seven messages, seven recipients, each sent on the first try.
    assert len(smtp.messages) == 7
    assert len({message["To"] for message in smtp.messages}) == 7
    assert [(n.status, n.attempts) for n in notes] == [(DeliveryStatus.SENT, 1)] * 7

    # Each worker ran a share of the batches (4 batches, at most 2 at once per worker).
    ran = [
        sorted(run.name for run in batches if f"Beginning subflow run '{run.name}'" in log)
        for log in logs
    ]
    assert all(ran), ran
    every = sorted(name for names in ran for name in names)
    assert every == sorted(run.name for run in batches), ran

    def timing(run: Any) -> str:
        waited = (run.start_time - run.created).total_seconds()
        took = (run.end_time - run.start_time).total_seconds()
        return f"{run.name}: started {waited:.1f} s after its creation, ran {took:.1f} s"

    print(
        f"\n{request.node.callspec.id}: dispatched twice in {dispatched:.1f} s; the chase and its "
        f"batches done {delivered:.1f} s after the first dispatch; batches per worker: "
        f"{[len(names) for names in ran]}\n  "
        + "\n  ".join(timing(run) for run in sorted([chase, *batches], key=lambda r: r.created))
    )
