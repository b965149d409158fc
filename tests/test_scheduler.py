"""The schedule under a frozen clock, restarts, and one leader among several ``duban run``.

The scheduler is APScheduler's own, with its job store in the test database (SQLite and
PostgreSQL); time-machine freezes the clock it reads, and the jobs fire a probe that records
when they ran (tests/scheduler_probe.py) instead of starting Prefect flows.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from datetime import time as dt_time
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import scheduler_probe
import time_machine

from flows.app import App
from flows.schedule import JobSpec, find_spec, job_specs
from flows.scheduler import start_scheduler

SH = ZoneInfo("Asia/Shanghai")
PROBE = "scheduler_probe:record"
TESTS = Path(__file__).resolve().parent


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SH)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def clear_probe() -> Iterator[None]:
    scheduler_probe.FIRES.clear()
    yield
    scheduler_probe.FIRES.clear()


def specs(app: App, *names: str) -> list[JobSpec]:
    every = job_specs(app.settings, app.policy)
    return [find_spec(every, name) for name in names]


@contextmanager
def scheduler_on(app: App, chosen: list[JobSpec]) -> Iterator:
    scheduler = start_scheduler(app, chosen, PROBE)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=True)


def next_run(scheduler, name: str) -> datetime:  # type: ignore[no-untyped-def]
    return scheduler.get_job(name).next_run_time


def advance(clock, scheduler, moment: datetime) -> None:  # type: ignore[no-untyped-def]
    clock.move_to(moment)
    scheduler.wakeup()


def test_the_chase_fires_at_0930_beijing_time_on_working_days_only(make_app) -> None:
    app = make_app()
    with (
        time_machine.travel(at(2023, 9, 28, 8, 0), tick=False) as clock,
        scheduler_on(app, specs(app, "chase")) as scheduler,
    ):
        assert next_run(scheduler, "chase") == at(2023, 9, 28, 9, 30)
        advance(clock, scheduler, at(2023, 9, 28, 9, 30, 5))
        scheduler_probe.wait_for_fires(1)
        # 09-29 中秋, 09-30 Saturday, 10-01..06 国庆: the next working day is Saturday 10-07,
        # a make-up day (调休), and then Sunday 10-08, another one.
        assert next_run(scheduler, "chase") == at(2023, 10, 7, 9, 30)
        advance(clock, scheduler, at(2023, 10, 7, 9, 30, 5))
        scheduler_probe.wait_for_fires(2)
        assert next_run(scheduler, "chase") == at(2023, 10, 8, 9, 30)
    assert [
        ("chase", at(2023, 9, 28, 9, 30, 5)),
        ("chase", at(2023, 10, 7, 9, 30, 5)),
    ] == scheduler_probe.FIRES


def test_weekly_and_year_end_jobs_fire_at_their_configured_local_times(make_app) -> None:
    app = make_app(weekly_digest_day="fri", compile_on="12-08", compile_at=dt_time(16, 45))
    with (
        time_machine.travel(at(2026, 12, 3, 12, 0), tick=False),
        scheduler_on(app, specs(app, "weekly", "year-end", "lookback")) as scheduler,
    ):
        assert next_run(scheduler, "weekly") == at(2026, 12, 4, 9, 0)
        assert next_run(scheduler, "year-end") == at(2026, 12, 8, 16, 45)
        # The 回头看 deadline is 11-20 by the policy; the check runs the day after.
        assert next_run(scheduler, "lookback") == at(2027, 11, 21, 9, 0)


def test_after_downtime_a_missed_chase_runs_once_not_once_per_missed_day(make_app) -> None:
    app = make_app()
    chosen = specs(app, "chase", "retry")
    with time_machine.travel(at(2023, 3, 6, 8, 5), tick=False) as clock:
        with scheduler_on(app, chosen) as scheduler:
            assert next_run(scheduler, "chase") == at(2023, 3, 6, 9, 30)
        # Down from Monday 08:05 to Thursday 11:00: four chases (Mon to Thu) and about 300
        # retries were missed.
        clock.move_to(at(2023, 3, 9, 11, 0))
        with scheduler_on(app, chosen) as scheduler:
            scheduler_probe.wait_for_fires(2)
            time.sleep(0.5)  # real time, for any further firing to show up
            assert next_run(scheduler, "chase") == at(2023, 3, 10, 9, 30)
            assert next_run(scheduler, "retry") == at(2023, 3, 9, 11, 15)
    assert sorted(scheduler_probe.FIRES) == [
        ("chase", at(2023, 3, 9, 11, 0)),
        ("retry", at(2023, 3, 9, 11, 0)),
    ]


def test_a_year_end_compilation_missed_by_days_still_runs(make_app) -> None:
    app = make_app()
    with time_machine.travel(at(2023, 12, 9, 18, 0), tick=False) as clock:
        with scheduler_on(app, specs(app, "year-end")):
            pass
        clock.move_to(at(2023, 12, 12, 8, 0))  # the process was down on 12-10
        with scheduler_on(app, specs(app, "year-end")) as scheduler:
            scheduler_probe.wait_for_fires(1)
            assert next_run(scheduler, "year-end") == at(2024, 12, 10, 10, 0)
    assert [("year-end", at(2023, 12, 12, 8, 0))] == scheduler_probe.FIRES


def test_a_changed_schedule_replaces_the_stored_job_and_dropped_jobs_go(make_app) -> None:
    app = make_app()
    with time_machine.travel(at(2023, 3, 6, 8, 0), tick=False):
        with scheduler_on(app, specs(app, "chase", "weekly")):
            pass
        later = make_app(chase_at=dt_time(10, 15))
        with scheduler_on(later, specs(later, "chase")) as scheduler:
            assert [job.id for job in scheduler.get_jobs()] == ["chase"]
            assert next_run(scheduler, "chase") == at(2023, 3, 6, 10, 15)
    assert scheduler_probe.FIRES == []


def test_one_leader_fires_and_a_standby_takes_over_when_it_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    """Two ``duban run`` processes on one database: only the leader fires a one-second job;
    killed with SIGKILL, it is replaced by the standby within the lease check (0.5 s here)."""
    out = tmp_path / "fires.txt"
    out.touch()
    logs = ExitStack()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                str(TESTS / "scheduler_probe.py"),
                database_url,
                str(tmp_path / name),
                str(out),
            ],
            env=env,
            stdout=logs.enter_context((tmp_path / f"{name}.log").open("w")),
            stderr=subprocess.STDOUT,
        )

    def fires() -> list[tuple[int, float]]:
        lines = out.read_text().split("\n")
        return [(int(pid), float(moment)) for pid, moment in (ln.split() for ln in lines if ln)]

    def wait_until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; fires so far: {fires()}"
            time.sleep(0.1)

    first = start("a")
    second = None
    try:
        wait_until(lambda: len(fires()) >= 2)
        second = start("b")
        wait_until(lambda: len(fires()) >= 6)  # both running for a while
        assert {pid for pid, _ in fires()} == {first.pid}
        first.send_signal(signal.SIGKILL)
        killed_at = time.time()
        first.wait(10)
        wait_until(lambda: any(pid == second.pid for pid, _ in fires()))
        wait_until(lambda: sum(pid == second.pid for pid, _ in fires()) >= 3)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(15)
        logs.close()
    assert second.returncode == 0, (tmp_path / "b.log").read_text()

    record = fires()
    by_first = [moment for pid, moment in record if pid == first.pid]
    by_second = [moment for pid, moment in record if pid == second.pid]
    assert by_first and by_second
    assert max(by_first) <= killed_at < min(by_second), "both processes fired at once"
    takeover = min(by_second) - killed_at
    # Lease check every 0.5 s, then the next one-second slot, plus starting the scheduler.
    assert takeover < 4.0, f"the standby took {takeover:.1f} s to take over"
    moments = sorted(m for _, m in record)
    assert all(b - a > 0.5 for a, b in pairwise(moments)), "a slot fired twice"


def test_a_leader_whose_lock_session_is_cut_stands_down(make_app, database_url: str) -> None:
    """On PostgreSQL the lease is the lock's database session: when the server ends that session
    (a network cut, an administrator), the leader stops scheduling and another can lead."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file lock cannot be lost while its process lives")
    from sqlalchemy import text

    from flows.leader import AdvisoryLockLease
    from flows.service import Service

    app = make_app()
    service = Service(app, specs=specs(app, "chase"), check_seconds=0.5, job_function=PROBE)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    rival = AdvisoryLockLease(app.engine)
    try:
        wait_for(lambda: service.scheduler is not None)
        with app.engine.begin() as connection:
            cut = connection.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_locks "
                    "where locktype = 'advisory' and granted and pid <> pg_backend_pid()"
                )
            ).all()
        assert cut == [(True,)]
        # The lock is free again and someone else takes it: the leader only tries again a
        # lease check (0.5 s) after standing down, so the rival, trying at once, gets it.
        wait_for(rival.acquire)
        wait_for(lambda: service.scheduler is None)
        time.sleep(0.3)  # several lease checks: it stays standby while the rival holds the lock
        assert service.scheduler is None
        rival.release()
        wait_for(lambda: service.scheduler is not None)  # and leads again once it is free
    finally:
        rival.release()
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_job_keys_name_the_day_week_or_year_they_are_for(make_app) -> None:
    app = make_app(retry_every_minutes=15)
    moment = at(2026, 12, 3, 10, 44)
    keys = {spec.name: spec.key(moment) for spec in job_specs(app.settings, app.policy)}
    assert keys == {
        "chase": "chase:2026-12-03",
        "retry": "retry:2026-12-03T10:30",
        "weekly": "weekly:2026-W49",
        "lookback": "lookback:2026",
        "year-end": "year-end:2026",
    }


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_scheduler_whose_thread_died_is_started_again(make_app, caplog) -> None:
    """APScheduler 3 lets its thread die on an error in its loop (a job-store lock held too
    long, for one) while its state still says running; the service notices and restarts it."""
    from apscheduler.triggers.interval import IntervalTrigger

    from flows.service import Service

    app = make_app()
    tick = JobSpec(
        name="tick",
        description="probe",
        flow="none",
        trigger=IntervalTrigger(seconds=1, start_date=datetime(2000, 1, 1, tzinfo=SH)),
        parameters=lambda now: {},
        key=lambda now: "",
    )
    service = Service(app, specs=[tick], check_seconds=0.1, job_function=PROBE)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    try:
        scheduler_probe.wait_for_fires(1)
        broken = service.scheduler
        assert broken is not None

        def lock_timeout() -> float:
            raise RuntimeError("the job store was locked for more than 5 s")

        broken._process_jobs = lock_timeout  # type: ignore[method-assign]
        broken.wakeup()
        wait_for(lambda: service.scheduler is not broken and service.scheduler is not None)
        assert "the scheduler's thread stopped; starting it again" in caplog.text
        fired = len(scheduler_probe.FIRES)
        scheduler_probe.wait_for_fires(fired + 1)  # and the new one fires the job again
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_the_lock_session_has_the_server_drop_a_vanished_leader(make_app, database_url) -> None:
    """The server, not only the client, watches the lock's session: without these it would
    keep a vanished leader's lock for the operating system's two hours."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the SQLite lease is a file lock, freed by the kernel")
    from sqlalchemy import text

    from flows.leader import AdvisoryLockLease

    lease = AdvisoryLockLease(make_app().engine)
    assert lease.acquire()
    try:
        connection = lease._connection
        assert connection is not None
        shown = {
            name: connection.execute(text(f"show {name}")).scalar()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
                "statement_timeout",
            )
        }
    finally:
        lease.release()
    assert shown == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "25000",
        "statement_timeout": "10s",
    }


def test_a_year_end_run_made_up_after_new_year_compiles_the_old_year(make_app) -> None:
    app = make_app()
    year_end, lookback = specs(app, "year-end", "lookback")
    on_time, made_up = at(2026, 12, 10, 10, 0), at(2027, 1, 2, 9, 0)
    assert year_end.parameters(on_time)["year"] == year_end.parameters(made_up)["year"] == 2026
    assert year_end.key(made_up) == "year-end:2026"
    assert year_end.parameters(made_up)["out_dir"].endswith("2026")
    assert lookback.key(at(2026, 11, 21, 9, 0)) == lookback.key(made_up) == "lookback:2026"
    january = make_app(compile_on="01-15")  # compiles the year just ended
    [early] = specs(january, "year-end")
    assert early.key(at(2027, 1, 15, 10, 0)) == "year-end:2026"
