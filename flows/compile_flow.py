"""The year's compilation as a Prefect flow: build the rows, then write each file."""

from pathlib import Path

from prefect import flow, task

from flows.app import current_app
from tracking.compile import summary_rows, summary_title
from tracking.db import transaction
from tracking.summary_writer import SummaryRow, write_summary


@task(name="build-rows")
def build_rows_task(year: int) -> list[SummaryRow]:
    with transaction(current_app().engine) as session:
        return summary_rows(session, year=year)


@task(name="write-files")
def write_files_task(
    rows: list[SummaryRow], out_dir: Path, year: int, title: str
) -> dict[str, Path]:
    return write_summary(
        rows, out_dir, year=year, title=title, template_dir=current_app().settings.templates_dir
    )


@flow(name="compile-feedback", flow_run_name="compile-{year}")
def compile_feedback(year: int, out_dir: Path, title: str | None = None) -> dict[str, Path]:
    """Compile 落实情况反馈 for every item of ``year`` and write the summary table (XLSX, TSV,
    HTML) to ``out_dir``. Returns the paths by format."""
    rows = build_rows_task(year)
    return write_files_task(rows, out_dir, year, title or summary_title(rows, year=year))
