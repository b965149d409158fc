"""The scheduled jobs end to end: each runs its Prefect flow as ``duban run`` would fire it, and
the mail reaches a real SMTP server on loopback."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from cli_runner import clear_duban_environment
from smtp_server import LoopbackSMTP
from sqlmodel import select

from config.policy import load_policy
from config.settings import Settings
from flows.app import App
from flows.jobs import run_job
from flows.schedule import find_spec, job_specs
from notifications.mail import SmtpBackend
from tracking.audit import latest_events
from tracking.db import transaction
from tracking.importer import import_table
from tracking.models import DeliveryStatus, Notification
from tracking.units import load_units, read_units_file

pytestmark = pytest.mark.prefect
SH = ZoneInfo("Asia/Shanghai")
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
COORDINATOR = "duban-office@mzj.example.gov.cn"


@pytest.fixture
def smtp():
    with LoopbackSMTP() as server:
        yield server


@pytest.fixture
def app(prefect_harness, make_app, smtp: LoopbackSMTP, seed: Path, tmp_path: Path) -> App:
    app = make_app(
        mail=SmtpBackend(smtp.host, smtp.port, timeout=5), compile_dir=tmp_path / "compiled"
    )
    app.policy = app.policy.model_copy(
        update={
            "ladder": app.policy.ladder.model_copy(update={"coordinator_emails": (COORDINATOR,)})
        }
    )
    now = datetime(2022, 3, 1, 9, 0, tzinfo=SH)
    import_table(
        app.engine, seed, year=2022, reported_on=date(2022, 3, 1), now=now, include_feedback=False
    )
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=now, actor="test")
    return app


def job(app: App, name: str):  # type: ignore[no-untyped-def]
    return find_spec(job_specs(app.settings, app.policy), name)


def test_the_weekly_digest_tells_the_coordinator_what_is_overdue_once_a_week(
    app: App, smtp: LoopbackSMTP
) -> None:
    monday = datetime(2022, 6, 20, 9, 0, tzinfo=SH)
    outcome = run_job(app, job(app, "weekly"), monday)
    again = run_job(app, job(app, "weekly"), monday.replace(hour=15))

    assert outcome.ok and outcome.key == "weekly:2022-W25"
    assert outcome.summary == "weekly:2022-W25: sent"
    assert again.ok and "already sent" in again.summary
    [message] = smtp.messages
    assert message["To"] == COORDINATOR
    body = message.get_body(("plain",)).get_content()
    # Imported on 03-01 with no reports since: every unit is more than 30 days behind.
    assert message["Subject"].startswith("【督办周报】截至2022年6月20日：")
    assert "二、逾期未报" in body and "市民政局" in body and "本周无单位报送" in body
    with transaction(app.engine) as session:
        last = latest_events(session, actions=["job:weekly"])["job:weekly"]
    assert last.actor == "scheduler" and last.after == {
        "key": "weekly:2022-W25",
        "ok": True,
        "summary": again.summary,
    }


def test_the_year_end_job_compiles_the_table_and_mails_it_as_an_attachment(
    app: App, smtp: LoopbackSMTP, tmp_path: Path
) -> None:
    moment = datetime(2022, 12, 10, 10, 0, tzinfo=SH)
    outcome = run_job(app, job(app, "year-end"), moment)
    folder = tmp_path / "compiled" / "2022"
    compiled = {path.name: path.read_bytes() for path in folder.iterdir()}
    # A second firing (a restart, a manual run) rewrites the files but mails nothing more.
    again = run_job(app, job(app, "year-end"), moment.replace(hour=11))

    assert outcome.ok, outcome.summary
    assert outcome.summary.startswith(f"year-end 2022: compiled 3 files in {folder}")
    assert again.ok and "already sent" in again.summary
    [message] = smtp.messages
    assert message["To"] == COORDINATOR and "2022年度" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename().endswith(".xlsx")
    assert attachment.get_content() == compiled[attachment.get_filename()]
    sheet = openpyxl.load_workbook(folder / attachment.get_filename()).active
    assert sheet.max_row >= 11  # the 11 items of the seed, under a title and a header


def test_the_year_end_job_for_a_year_without_items_says_so_and_sends_nothing(
    app: App, smtp: LoopbackSMTP
) -> None:
    outcome = run_job(app, job(app, "year-end"), datetime(2023, 12, 10, 10, tzinfo=SH))
    assert outcome.ok
    assert outcome.summary == "year-end 2023: no follow-up items recorded; nothing compiled"
    assert smtp.messages == []


def test_the_lookback_check_lists_items_still_owing_it_after_the_deadline(
    app: App, smtp: LoopbackSMTP
) -> None:
    outcome = run_job(app, job(app, "lookback"), datetime(2022, 11, 21, 9, 0, tzinfo=SH))
    assert outcome.ok and outcome.summary == "lookback:2022: sent"
    [message] = smtp.messages
    # The table was imported under follow-up with no class: every lead owes the 回头看.
    assert message["Subject"] == "【督办通报】2022年度回头看：11项尚未报送"
    assert "以下11项事项尚未报送回头看情况" in message.get_body(("plain",)).get_content()


def test_retries_wait_for_office_hours_then_deliver_what_failed(
    app: App, smtp: LoopbackSMTP
) -> None:
    chase_time = datetime(2022, 6, 15, 9, 30, tzinfo=SH)
    smtp.refuse_with(451, "4.3.0 try again later")
    chase = run_job(app, job(app, "chase"), chase_time)
    assert chase.ok and " 0 sent, 7 failed" in chase.summary
    assert smtp.connections == 1  # the chase's tasks share one connection
    smtp.accept()

    night = run_job(app, job(app, "retry"), datetime(2022, 6, 15, 20, 0, tzinfo=SH))
    assert night.summary == ("retry: nothing tried, 20:00 is outside office hours (09:00–17:30)")
    assert smtp.messages == []
    morning = run_job(app, job(app, "retry"), datetime(2022, 6, 16, 9, 15, tzinfo=SH))
    assert morning.summary == "retry: 7 messages tried, 7 sent, 0 failed"
    assert len(smtp.messages) == 7 and smtp.connections == 2  # the retry's one
    with transaction(app.engine) as session:
        statuses = set(session.exec(select(Notification.status)).all())
    assert statuses == {DeliveryStatus.SENT}


def test_a_retry_outside_office_hours_starts_no_flow(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    # Nothing listens there: a retry that dispatched its flow would fail.
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")

    holiday = run_job(app, job(app, "retry"), datetime(2022, 6, 3, 10, 0, tzinfo=SH))

    assert holiday.ok, holiday.summary
    assert holiday.summary == "retry: nothing tried, 2022-06-03 端午 holiday is not a working day"
    with transaction(app.engine) as session:
        event = latest_events(session, actions=["job:retry"])["job:retry"]
    assert event.after == {"key": "retry:2022-06-03T10:00", "ok": True, "summary": holiday.summary}


def test_the_year_end_folder_is_absolute_for_a_worker_in_another_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_duban_environment(monkeypatch, tmp_path)  # and in tmp_path, as `duban run` would be
    settings = Settings(state_dir=Path("var"))
    spec = find_spec(job_specs(settings, load_policy()), "year-end")

    parameters = spec.parameters(datetime(2022, 12, 10, 10, 0, tzinfo=SH))

    assert parameters["out_dir"] == str((tmp_path / "var" / "compiled" / "2022").resolve())
    assert Path(parameters["out_dir"]).is_absolute()


def test_a_failing_job_is_recorded_and_reported_not_raised(app: App, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    broken = app.settings.model_copy(update={"compile_dir": blocked})
    spec = find_spec(job_specs(broken, app.policy), "year-end")

    outcome = run_job(app, spec, datetime(2022, 12, 10, 10, tzinfo=SH))

    assert not outcome.ok
    assert "not-a-folder" in outcome.summary
    with transaction(app.engine) as session:
        event = latest_events(session, actions=["job:year-end"])["job:year-end"]
    assert event.after is not None and event.after["ok"] is False
