import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tracking import summary_writer, unit_sheet
from tracking.collector import collector_paused
from tracking.summary_writer import SummaryRow
from tracking.unit_sheet import SheetItem


@contextmanager
def counted_collections() -> Iterator[list[int]]:
    """The generations of the collector's passes made in the block."""
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(count)
    try:
        yield passes
    finally:
        gc.callbacks.remove(count)


def test_the_collector_makes_no_pass_in_the_block_and_is_on_after_it() -> None:
    assert gc.isenabled()
    with collector_paused(), counted_collections() as passes:
        kept = [[n] for n in range(100_000)]  # containers: a pass every 700 otherwise
    assert passes == []
    assert gc.isenabled()
    with counted_collections() as passes:
        kept += [[n] for n in range(100_000)]
    assert passes  # the check above can fail: with the collector on, passes happen


def test_the_collector_is_on_again_after_a_failure_and_stays_off_if_it_was() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()

    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # someone else's pause is theirs to end
    finally:
        gc.enable()


def test_overlapping_pauses_in_two_threads_leave_the_collector_on() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():  # finds it off: leaves it alone
            second_in.set()
            first_out.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert first_out.is_set()
    assert gc.isenabled()


ROW = SummaryRow(
    seq=1,
    category="人大建议",
    number="730",
    lead_representative="张正义",
    signer_count=1,
    title="关于完善街路标识牌的建议",
    handling_type="主办",
    lead_unit="市民政局",
    co_units=("市发展改革委", "市卫生健康委"),
    commitment="完成全市街路牌电子化档案信息录入工作。",
    feedback="一是完成录入；二是更新标识。",
)
ITEM = SheetItem(
    item_id=1,
    category="人大建议",
    number="730",
    title="关于完善街路标识牌的建议",
    commitment="完成全市街路牌电子化档案信息录入工作。",
    role="lead",
    owed=("报送落实进展",),
    due=date(2022, 6, 30),
)


def test_a_summary_workbook_is_written_with_the_collector_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector_on: list[bool] = []
    append_row = summary_writer._append_row

    def watched(*args: Any) -> None:
        collector_on.append(gc.isenabled())
        append_row(*args)

    monkeypatch.setattr(summary_writer, "_append_row", watched)
    summary_writer.write_xlsx([replace(ROW, seq=n) for n in range(1, 4)], tmp_path / "s.xlsx", "表")

    assert collector_on == [False, False, False]
    assert gc.isenabled()


def test_a_unit_sheet_is_written_with_the_collector_off(monkeypatch: pytest.MonkeyPatch) -> None:
    collector_on: list[bool] = []
    append_item = unit_sheet._append_item

    def watched(*args: Any) -> None:
        collector_on.append(gc.isenabled())
        append_item(*args)

    monkeypatch.setattr(unit_sheet, "_append_item", watched)
    items = [replace(ITEM, item_id=n) for n in range(1, 3)]
    data = unit_sheet.unit_sheet_bytes(
        items, unit_id=1, unit_name="市民政局", as_of=date(2022, 6, 15)
    )

    assert collector_on == [False, False]
    assert data.startswith(b"PK")
    assert gc.isenabled()
