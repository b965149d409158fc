"""A stand-in job for scheduler tests, and a small ``duban run`` to start in a subprocess.

In the test process, :func:`record` keeps each firing (job name and the clock at the time, which
time-machine may have frozen). In a subprocess (``python tests/scheduler_probe.py URL STATE
OUT``), a one-second job appends ``<pid> <time>`` to OUT at every firing.
"""

import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

FIRES: list[tuple[str, datetime]] = []
_fired = threading.Condition()


def record(name: str) -> None:
    with _fired:
        FIRES.append((name, datetime.now(ZoneInfo("Asia/Shanghai"))))
        _fired.notify_all()


def wait_for_fires(count: int, timeout: float = 10.0) -> list[tuple[str, datetime]]:
    """Wait (in real time) until ``count`` firings were recorded; returns them."""
    deadline = time.monotonic() + timeout
    with _fired:
        while len(FIRES) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"expected {count} firings, got {FIRES}")
            _fired.wait(left)
        return list(FIRES)


def append_fire(name: str) -> None:
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(f"{os.getpid()} {time.time():.3f}\n")


def main(url: str, state_dir: str, out: str) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from config.settings import Settings
    from flows.app import build_app
    from flows.schedule import JobSpec
    from flows.service import Service

    os.environ["PROBE_OUT"] = out
    app = build_app(Settings(database_url=url, state_dir=Path(state_dir)))
    tick = JobSpec(
        name="tick",
        description="probe",
        flow="none",
        trigger=IntervalTrigger(seconds=1, start_date=datetime(2000, 1, 1, tzinfo=UTC)),
        parameters=lambda now: {},
        key=lambda now: "",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service = Service(
        app, specs=[tick], check_seconds=0.5, job_function="scheduler_probe:append_fire"
    )
    print("started", flush=True)
    service.run(stop)


if __name__ == "__main__":
    main(*sys.argv[1:4])
