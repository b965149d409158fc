"""W7: the chase as ``duban run`` fires it, beside the same steps without Prefect.

``python -m bench.service --state DIR`` takes the year W1 imported (with the units' contacts) and,
in one process whose Prefect has already started (a first trivial flow run, untimed: its cost is
the "Prefect's start" row), times ``flows.jobs.run_job`` for the chase job (the Prefect flow that
plans, drafts and delivers with one task per digest, as ``duban run`` runs it in its own process)
against ``flows.delivery``'s plain steps on a copy of the same database (plan, draft, deliver
each pending message), both to a loopback SMTP server. The difference is what the scheduled
path adds: Prefect's flow and task runs and their state kept in its database.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import workloads
from bench.size import NOW
from bench.smtp_sink import SmtpSink
from bench.state import copy_state
from flows.jobs import run_job
from flows.prefect_setup import configure_prefect, without_heartbeats
from flows.schedule import find_spec, job_specs
from notifications.mail import SmtpBackend


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_prefect(app: Any) -> float:
    """Prefect's first flow run in this process (its temporary server starts): untimed work."""
    configure_prefect(app.settings)
    from prefect import flow

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        return 1

    start = time.perf_counter()
    with without_heartbeats():
        warm_up()
    return time.perf_counter() - start


def measure(state: Path) -> dict[str, Any]:
    scheduled = copy_state(state, state.parent / "w7-job")
    plain = copy_state(state, state.parent / "w7-plain")
    with SmtpSink() as sink:
        job_app = workloads.make_app(scheduled, mail=SmtpBackend(sink.host, sink.port, timeout=120))
        warm_up = start_prefect(job_app)
        log(f"Prefect started in {warm_up:.1f} s (not timed)")
        spec = find_spec(job_specs(job_app.settings, job_app.policy), "chase")
        start = time.perf_counter()
        outcome = run_job(job_app, spec, NOW)
        job_seconds = time.perf_counter() - start
        if not outcome.ok:
            raise RuntimeError(f"the chase job failed: {outcome.summary}")
        log(f"chase job: {job_seconds:.1f} s ({outcome.summary})")
        job_app.engine.dispose()
        after_job = sink.received[0]

        plain_app = workloads.make_app(plain, mail=SmtpBackend(sink.host, sink.port, timeout=120))
        start = time.perf_counter()
        drafted, _ = workloads.draft_chase(plain_app, as_of=NOW.date(), now=NOW)
        sent = workloads.deliver_pending(plain_app, now=NOW)
        plain_seconds = time.perf_counter() - start
        plain_app.engine.dispose()
        log(f"plain steps: {plain_seconds:.1f} s ({drafted} drafted, {sent} sent)")
        if sink.received[0] - after_job != after_job:
            raise RuntimeError("the job and the plain steps did not send the same messages")
    return {
        "job": job_seconds,
        "plain": plain_seconds,
        "messages": sent,
        "prefect_warm_up": warm_up,
        "summary": outcome.summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="a folder holding duban.db")
    args = parser.parse_args()
    print(json.dumps(measure(args.state)))


if __name__ == "__main__":
    main()
