"""``duban jobs`` and ``duban run`` from the command line."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import Duban


def test_jobs_lists_every_job_with_its_schedule_before_the_first_run(
    duban: Duban, seed: Path
) -> None:
    assert duban("import", str(seed), "--year", "2022").exit_code == 0
    result = duban("jobs")
    assert result.exit_code == 0, result.output
    for line in (
        "chase",
        "working days at 09:30",
        "retry",
        "every 15 minutes",
        "weekly",
        "every mon at 09:00",
        "lookback",
        "year-end",
    ):
        assert line in result.stdout
    assert "The schedule is not stored yet" in result.stdout


def test_jobs_run_names_the_jobs_when_one_is_misspelt(duban: Duban, seed: Path) -> None:
    assert duban("import", str(seed), "--year", "2022").exit_code == 0
    result = duban("jobs", "run", "weekley")
    assert result.exit_code == 1
    assert "no job named 'weekley'; the jobs are: chase, retry, weekly, lookback, year-end" in (
        result.stderr
    )


@pytest.mark.prefect
def test_jobs_run_runs_a_job_now_and_jobs_shows_its_outcome(
    prefect_harness, duban: Duban, seed: Path
) -> None:
    assert duban("import", str(seed), "--year", "2022").exit_code == 0
    result = duban("jobs", "run", "weekly")
    assert result.exit_code == 0, result.output
    assert "weekly [ok] weekly:" in result.stdout
    assert "not sent: no coordinator address (policy: ladder.coordinator_emails)" in result.stdout
    listed = duban("jobs")
    weekly = next(line for line in listed.stdout.splitlines() if "│ weekly" in line)
    assert "ok: weekly:" in weekly and "never" not in weekly


def test_duban_run_leads_and_a_second_one_stands_by_then_takes_over(
    tmp_path: Path, seed: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    environment.update(DUBAN_STATE_DIR=str(tmp_path / "state"), DUBAN_LEASE_CHECK_SECONDS="0.5")
    duban = [str(Path(sys.executable).parent / "duban")]
    subprocess.run(
        [*duban, "import", str(seed), "--year", "2022"],
        env=environment,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    outputs = [tmp_path / "first.out", tmp_path / "second.out"]

    def start(out: Path) -> subprocess.Popen:
        with out.open("w") as handle:
            return subprocess.Popen(
                [*duban, "run"], env=environment, cwd=tmp_path, stdout=handle, stderr=handle
            )

    def wait_for(out: Path, text: str) -> None:
        deadline = time.monotonic() + 60
        while text not in out.read_text():
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)

    first = start(outputs[0])
    second = None
    try:
        wait_for(outputs[0], "leading: holding a lock on")
        second = start(outputs[1])
        wait_for(outputs[1], "standby: another duban run holds a lock on")
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        wait_for(outputs[1], "leading: holding a lock on")
        second.send_signal(signal.SIGINT)
        assert second.wait(30) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    first_out = outputs[0].read_text()
    assert "chase     next run" in first_out and first_out.rstrip().endswith("duban run: stopped")
    assert "Traceback" not in first_out + outputs[1].read_text()
    assert (tmp_path / "state" / "logs" / "duban.log").exists()


@pytest.mark.parametrize("command", [["worker"], ["run"]])
def test_worker_and_run_with_a_prefect_server_refuse_to_start_without_the_shared_secret(
    tmp_path: Path, command: list[str]
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "PREFECT_"))}
    # Nothing listens there: a process that got past the check would fail otherwise, or serve.
    environment.update(
        DUBAN_STATE_DIR=str(tmp_path / "state"), PREFECT_API_URL="http://127.0.0.1:9/api"
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "duban"), *command],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # a `duban run` that did not refuse would run until stopped
    )
    assert result.returncode == 1, result.stdout + result.stderr
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert f"duban {command[0]} with a Prefect server needs DUBAN_SECRET_KEY" in message
    assert (
        "set DUBAN_SECRET_KEY to the same value on every duban process (web, run, workers): "
        "the unit links in the digests are signed with it"
    ) in message
    assert not (tmp_path / "state" / "secret.key").exists()
    assert "Traceback" not in result.stderr


def test_jobs_shows_the_stored_schedule_and_what_the_settings_now_say(
    duban: Duban, seed: Path, make_app
) -> None:
    from datetime import time as clock

    from flows.schedule import job_specs
    from flows.scheduler import start_scheduler

    assert duban("import", str(seed), "--year", "2022").exit_code == 0
    earlier = make_app(chase_at=clock(1, 40))  # as a `duban run` started with DUBAN_CHASE_AT
    start_scheduler(earlier, job_specs(earlier.settings, earlier.policy)).shutdown(wait=False)

    listed = duban("jobs")

    chase = next(line for line in listed.stdout.splitlines() if line.startswith("│ chase"))
    assert "working days at 01:40 (settings now: working days at 09:30; from the next" in chase
    assert " 01:40 " in chase  # the stored next run
    weekly = next(line for line in listed.stdout.splitlines() if line.startswith("│ weekly"))
    assert "every mon at 09:00 " in weekly and "settings now" not in weekly
    assert "The schedule is not stored yet" not in listed.stdout
