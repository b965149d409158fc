"""The Prefect flows end to end, on one test harness for the whole session (it starts in ~15 s)."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from smtp_server import LoopbackSMTP

from flows.app import App, use_app
from flows.prefect_setup import without_heartbeats
from notifications.mail import SmtpBackend
from tracking.db import transaction
from tracking.importer import import_table
from tracking.units import load_units, read_units_file

pytestmark = pytest.mark.prefect
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"


@pytest.fixture
def smtp():
    with LoopbackSMTP() as server:
        yield server


@pytest.fixture
def app(prefect_harness, make_app, smtp: LoopbackSMTP, seed: Path) -> App:
    app = make_app(mail=SmtpBackend(smtp.host, smtp.port, timeout=5))
    import_table(
        app.engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW, include_feedback=False
    )
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    return app


def task_runs_of(state) -> list:  # type: ignore[no-untyped-def]
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def test_chase_flow_sends_one_digest_per_unit_in_one_task_each(
    app: App, smtp: LoopbackSMTP
) -> None:
    from flows.chase_flow import chase_units

    with use_app(app), without_heartbeats():
        state = chase_units(date(2022, 6, 15), NOW, return_state=True)
        again = chase_units(date(2022, 6, 15), NOW)

    report = state.result()
    assert report.digests == 7 and report.count("sent") == 7
    assert len(smtp.messages) == 7
    assert smtp.connections == 1  # the tasks, threads at once, share the run's connection
    # 11 items, 26 assignments, 7 units: the task runs follow the digests (one per unit).
    assert sorted(run.name for run in task_runs_of(state)) == sorted(
        f"deliver-{o.notification_id}" for o in report.outcomes
    )
    assert len(task_runs_of(state)) == 7
    assert again.outcomes == [] and len(smtp.messages) == 7


def test_compile_flow_writes_the_three_files(app: App, seed: Path, tmp_path: Path) -> None:
    from flows.compile_flow import compile_feedback

    import_table(app.engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW)
    with use_app(app), without_heartbeats():
        paths = compile_feedback(2022, tmp_path / "out")

    assert {kind: path.name for kind, path in paths.items()} == {
        "xlsx": "summary-2022.xlsx",
        "tsv": "summary-2022.tsv",
        "html": "summary-2022.html",
    }
    sheet = openpyxl.load_workbook(paths["xlsx"]).active
    assert sheet["A1"].value == "市民政局2022年度跟踪办理建议提案落实情况汇总表"
    numbers = [row[2] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert numbers == ["730", "152", "199", "217", "250", "271", "289", "321", "379", "445", "451"]
    assert "未反馈" not in paths["html"].read_text(encoding="utf-8")
