"""The 落实情况反馈 text of one item, from its reports: how it is compiled and recognised."""

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from tracking.models import UpdateKind

NO_FEEDBACK = "未反馈"
FINAL_LABEL, PROGRESS_LABEL = "最终反馈", "进展"
_ATTRIBUTED = re.compile(rf"^【[^·】]+·({FINAL_LABEL}|{PROGRESS_LABEL})·\d{{4}}-\d{{2}}-\d{{2}}】")


class Report(Protocol):
    """What compiling reads of a report: a ``ProgressUpdate``, or a row of those columns."""

    @property
    def id(self) -> int | None: ...
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def reported_on(self) -> date: ...
    @property
    def recorded_at(self) -> datetime: ...


def compile_feedback_text(
    *,
    final_text: str | None,
    lead_unit: str,
    updates: list[tuple[str, Report]],
    co_units: Sequence[str] = (),
) -> str:
    """The 落实情况反馈 of one item.

    In order of precedence: the coordinator's own text; the lead unit's latest final feedback;
    the latest input of each unit that reported, attributed (lead first, then the co units in
    their 协办单位 order, then any unit no longer assigned); 未反馈.
    ``updates`` holds (unit name, update) pairs in any order.
    """
    if final_text:
        return final_text
    latest = sorted(
        updates, key=lambda pair: (pair[1].reported_on, pair[1].recorded_at, pair[1].id)
    )
    lead_finals = [u for name, u in latest if name == lead_unit and u.kind == UpdateKind.FINAL]
    if lead_finals:
        return lead_finals[-1].text
    latest_by_unit: dict[str, Report] = {}
    for name, update in latest:
        latest_by_unit[name] = update
    if not latest_by_unit:
        return NO_FEEDBACK
    ranks = {name: rank for rank, name in enumerate([lead_unit, *co_units])}
    order = sorted(latest_by_unit, key=lambda name: (ranks.get(name, len(ranks)), name))
    return "\n".join(_attributed(name, latest_by_unit[name]) for name in order)


def _attributed(unit_name: str, update: Report) -> str:
    label = FINAL_LABEL if update.kind == UpdateKind.FINAL else PROGRESS_LABEL
    return f"【{unit_name}·{label}·{update.reported_on.isoformat()}】{update.text}"


def is_interim_feedback(text: str) -> bool:
    """Whether a 落实情况反馈 cell is what compiling writes while the lead has given no final
    feedback (未反馈, or attributed inputs); importing such a cell must not close the item."""
    text = text.strip()
    return text == NO_FEEDBACK or bool(_ATTRIBUTED.match(text))
