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
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from smtp_server import LoopbackSMTP
from sqlmodel import select

from config.policy import DEFAULT_POLICY_FILE
from config.settings import Settings
from flows.app import App
from flows.jobs import run_job
from flows.prefect_setup import QUIET_DEFAULTS, configure_prefect
from flows.schedule import find_spec, job_specs
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
SECRET_KEY = "scale-out-test-key-shared-by-every-process"


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
    with serving(2, prefect_server["url"], database_url, smtp, tmp_path) as started:
        yield started


@contextlib.contextmanager
def serving(
    count: int,
    url: str,
    database_url: str,
    smtp: LoopbackSMTP,
    folder: Path,
    *,
    expected_error: str = "",
    **environment: str,
) -> Iterator[list[dict[str, Any]]]:
    """``count`` `duban worker` processes, each with a state folder of its own under ``folder``
    and ``environment`` added to their settings; stopped at the end, without a traceback in
    their logs but those of flow runs failing with ``expected_error`` (its type name)."""
    started = []
    try:
        for index in range(1, count + 1):
            state = folder / f"worker-{index}"
            state.mkdir()
            env = clean_environment(
                PREFECT_API_URL=url,
                PREFECT_RUNNER_POLL_FREQUENCY="1",  # the default 10 s would make the test slow
                DUBAN_DATABASE_URL=database_url,
                DUBAN_STATE_DIR=str(state),
                DUBAN_SECRET_KEY=SECRET_KEY,
                DUBAN_MAIL_BACKEND="smtp",
                DUBAN_SMTP_HOST=smtp.host,
                DUBAN_SMTP_PORT=str(smtp.port),
                DUBAN_SMTP_TIMEOUT="10",
                **environment,
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
            log = worker_log(worker)
            tracebacks = log.count("Traceback (most recent call last)")
            expected = sum(line.startswith(f"{expected_error}: ") for line in log.splitlines())
            assert tracebacks == (expected if expected_error else 0), log


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


@contextlib.contextmanager
def client_on(url: str) -> Iterator[Any]:
    """A synchronous Prefect client on the server at ``url``."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        yield client


def flow_runs(url: str, *keys: str) -> list[Any]:
    """The flow runs on the server (with one of the idempotency ``keys``, when given), oldest
    first."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey

    chosen = FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=list(keys)))
    with client_on(url) as client:
        runs = client.read_flow_runs(flow_run_filter=chosen if keys else None, limit=200)
    return sorted(runs, key=lambda run: run.created)


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


# Runs again after a failure, and a retry kept to office hours: one database is enough.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
COORDINATOR = "duban-office@mzj.example.gov.cn"


@pytest.fixture(scope="module")
def deployed(prefect_server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    """duban's deployments on the server, as a worker creates them, but with no worker: the
    flow runs created on them wait. The server's URL."""
    configure_prefect(Settings(state_dir=tmp_path_factory.mktemp("deployer")))
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import deployments

    url = prefect_server["url"]
    with temporary_settings(updates={PREFECT_API_URL: url}):
        for deployment in deployments():
            deployment.apply()
    return url


@pytest.fixture
def new_runs_deleted(prefect_server: dict[str, Any]) -> Iterator[None]:
    """Deletes the flow runs the test created, so that the workers of a later test do not run
    them."""
    url = prefect_server["url"]
    before = {run.id for run in flow_runs(url)}
    yield
    with client_on(url) as client:
        for run in flow_runs(url):
            if run.id not in before:
                client.delete_flow_run(run.id)


@contextlib.contextmanager
def on_server(app: App, url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dispatching as `duban run` does with PREFECT_API_URL set (see the chase test above)."""
    configure_prefect(app.settings)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", url)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def wait_until_final(url: str, key: str) -> Any:
    """The flow run with idempotency ``key`` once it has ended."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        runs = flow_runs(url, key)
        assert len(runs) == 1, f"flow runs for {key}: {runs}; all: {flow_runs(url)}"
        run = runs[0]
        if run.state and run.state.is_final():
            return run
        assert time.monotonic() < deadline, f"{run.name} did not end: {run.state}"
        time.sleep(0.5)


@SQLITE_ONLY
def test_a_flow_run_that_ended_without_completing_is_run_again_under_an_attempt_key(
    deployed: str,
    new_runs_deleted: None,
    make_app: Callable[..., App],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.states import Cancelled, Completed, Crashed, Failed, Running

    from flows.dispatch import run_flow

    app = make_app()
    key = f"lookback:2022:{uuid.uuid4().hex[:8]}"
    keys = [key, *(f"{key}#{attempt}" for attempt in range(2, 6))]
    deployment = "lookback-check/duban"

    def end_last_run(state: Any) -> Any:
        last = flow_runs(deployed, *keys)[-1]
        with client_on(deployed) as client:
            client.set_flow_run_state(last.id, state, force=True)
        return last

    def dispatch() -> str:
        return run_flow(app, "lookback", {"year": 2022, "now": NOW}, key=key)

    with on_server(app, deployed, monkeypatch):
        first = dispatch()
        waiting = dispatch()
        [created] = flow_runs(deployed, *keys)
        assert first == f"created flow run {key} ({created.id}) on {deployment}"
        assert waiting.startswith(f"flow run {key} ({created.id}) on {deployment} exists already (")
        assert waiting.endswith("), not finished yet: nothing new started"), waiting  # Scheduled
        # Each time the last attempt ended without completing, starting the job runs it again.
        for attempt, state in [(2, Failed()), (3, Crashed()), (4, Cancelled())]:
            ended = end_last_run(state)
            again = dispatch()
            rerun = flow_runs(deployed, *keys)[-1]
            assert again == (
                f"created flow run {key}#{attempt} ({rerun.id}) on {deployment}: a re-run, as "
                f"{ended.idempotency_key} ({ended.id}) ended {state.name}"
            )
        completed = end_last_run(Completed())
        done = dispatch()
        # A flow run a killed worker left Running holds its key until it is deleted.
        dead_key = f"{key}-dead"
        run_flow(app, "lookback", {"year": 2022, "now": NOW}, key=dead_key)
        [dead] = flow_runs(deployed, dead_key)
        with client_on(deployed) as client:
            client.set_flow_run_state(dead.id, Running(), force=True)
            still_dead = run_flow(app, "lookback", {"year": 2022, "now": NOW}, key=dead_key)
            client.delete_flow_run(dead.id)  # `prefect flow-run delete <id>`
        after_delete = run_flow(app, "lookback", {"year": 2022, "now": NOW}, key=dead_key)

    assert done == (
        f"flow run {key}#4 ({completed.id}) on {deployment} exists already (Completed): "
        "nothing new started"
    )
    runs = flow_runs(deployed, *keys)
    assert [(run.idempotency_key, run.state_name) for run in runs] == [
        (key, "Failed"),
        (f"{key}#2", "Crashed"),
        (f"{key}#3", "Cancelled"),
        (f"{key}#4", "Completed"),
    ]
    assert still_dead.endswith("exists already (Running), not finished yet: nothing new started")
    [fresh] = flow_runs(deployed, dead_key)
    assert after_delete == f"created flow run {dead_key} ({fresh.id}) on {deployment}"


@SQLITE_ONLY
def test_a_retry_outside_office_hours_creates_no_flow_run_on_the_server(
    deployed: str,
    new_runs_deleted: None,
    make_app: Callable[..., App],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app()
    spec = find_spec(job_specs(app.settings, app.policy), "retry")
    with on_server(app, deployed, monkeypatch):
        night = run_job(app, spec, NOW.replace(hour=20, minute=0))
        saturday = run_job(app, spec, datetime(2022, 6, 18, 10, 0, tzinfo=NOW.tzinfo))
        in_hours = run_job(app, spec, NOW.replace(day=16, hour=10, minute=0))

    assert night.ok and night.key == "retry:2022-06-15T20:00"
    assert night.summary == "retry: nothing tried, 20:00 is outside office hours (09:00–17:30)"
    assert saturday.ok and saturday.summary.startswith("retry: nothing tried, ")
    assert saturday.summary.endswith("is not a working day"), saturday.summary
    assert in_hours.ok and in_hours.summary.startswith("created flow run retry:2022-06-16T10:00")
    runs = flow_runs(deployed, night.key, saturday.key, in_hours.key)
    assert [run.idempotency_key for run in runs] == [in_hours.key]


@SQLITE_ONLY
def test_a_failed_year_end_runs_again_once_its_cause_is_fixed_and_mails_the_table_once(
    prefect_server: dict[str, Any],
    seeded: App,
    smtp: LoopbackSMTP,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = prefect_server["url"]
    policy = tmp_path / "policy.toml"
    default = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    policy.write_text(
        default.replace("coordinator_emails = []", f'coordinator_emails = ["{COORDINATOR}"]'),
        encoding="utf-8",
    )
    assert COORDINATOR in policy.read_text(encoding="utf-8")
    compiled = tmp_path / "compiled"
    compiled.write_text("a file where the folder should be")  # what makes the compilation fail
    settings = seeded.settings.model_copy(update={"compile_dir": compiled})
    spec = find_spec(job_specs(settings, seeded.policy), "year-end")
    moment = datetime(2022, 12, 10, 10, 0, tzinfo=NOW.tzinfo)

    with (
        on_server(seeded, url, monkeypatch),
        serving(
            1,
            url,
            database_url,
            smtp,
            tmp_path,
            expected_error="NotADirectoryError",
            DUBAN_POLICY_FILE=str(policy),
        ) as [worker],
    ):
        failing = run_job(seeded, spec, moment)
        failed = wait_until_final(url, "year-end:2022")
        compiled.unlink()  # the cause fixed, the job is started again (`duban jobs run year-end`)
        rerun = run_job(seeded, spec, moment.replace(hour=15))
        meanwhile = run_job(seeded, spec, moment.replace(hour=15))
        completed = wait_until_final(url, "year-end:2022#2")
        done = run_job(seeded, spec, moment.replace(hour=16))
    logs = worker_log(worker)

    assert failing.ok and failing.summary == (
        f"created flow run year-end:2022 ({failed.id}) on year-end/duban"
    )
    assert failed.state_name == "Failed", logs
    assert f"NotADirectoryError: [Errno 20] Not a directory: '{compiled / '2022'}'" in logs
    assert rerun.ok and rerun.summary == (
        f"created flow run year-end:2022#2 ({completed.id}) on year-end/duban: a re-run, as "
        f"year-end:2022 ({failed.id}) ended Failed"
    )
    assert meanwhile.ok and meanwhile.summary.startswith(
        f"flow run year-end:2022#2 ({completed.id}) on year-end/duban exists already ("
    )
    assert meanwhile.summary.endswith("), not finished yet: nothing new started")
    assert completed.state_name == "Completed", logs
    assert done.ok and done.summary == (
        f"flow run year-end:2022#2 ({completed.id}) on year-end/duban exists already "
        "(Completed): nothing new started"
    )
    # The table was written by the re-run, and mailed once, with the XLSX.
    [message] = smtp.messages
    assert message["To"] == COORDINATOR and "2022年度" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content() == (compiled / "2022" / attachment.get_filename()).read_bytes()
    assert len(flow_runs(url, "year-end:2022", "year-end:2022#2", "year-end:2022#3")) == 2
