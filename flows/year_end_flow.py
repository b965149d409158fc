"""The year-end compilation as a scheduled job: compile the summary table, mail it to the
coordinator with the XLSX attached."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prefect import flow
from sqlmodel import select

from flows.app import current_app
from flows.compile_flow import compile_feedback
from flows.report_flows import CoordinatorMail, send_to_coordinator
from tracking.db import transaction
from tracking.models import Proposal


@dataclass(frozen=True)
class YearEndReport:
    year: int
    files: dict[str, Path]
    mail: CoordinatorMail | None

    def summary(self) -> str:
        if not self.files:
            return f"year-end {self.year}: no follow-up items recorded; nothing compiled"
        folder = next(iter(self.files.values())).parent
        mailed = self.mail.summary() if self.mail else "not mailed"
        return f"year-end {self.year}: compiled {len(self.files)} files in {folder}; {mailed}"


@flow(name="year-end", flow_run_name="year-end-{year}")
def year_end(year: int, out_dir: Path, now: datetime) -> YearEndReport:
    """Compile ``year``'s 落实情况反馈 into ``out_dir`` and mail the coordinator the table.

    Safe to run again: the files are rewritten from the records, and the mail, keyed by the
    year, goes out once."""
    app = current_app()
    with transaction(app.engine) as session:
        items = session.exec(select(Proposal.id).where(Proposal.year == year)).first()
    if items is None:
        return YearEndReport(year, {}, None)
    files = compile_feedback(year, out_dir)
    context = {
        "year": year,
        "files": {kind: path.name for kind, path in files.items()},
        "folder": str(out_dir),
        "body_name": app.settings.body_name,
    }
    mail = send_to_coordinator(
        app, "year-end", f"year-end:{year}", context, now, attachments=(files["xlsx"],)
    )
    return YearEndReport(year, files, mail)
