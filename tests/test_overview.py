"""The coordinator's weekly overview counts overdue items as the dashboard does."""

from datetime import date

from tracking.overview import OverdueLine, WeeklyOverview


def line(unit: str, number: str, obligation: str) -> OverdueLine:
    return OverdueLine(unit, number, "题目", obligation, date(2022, 6, 1), 5)


def test_an_item_with_two_overdue_obligations_counts_once() -> None:
    overview = WeeklyOverview(as_of=date(2022, 6, 20), since=date(2022, 6, 13))
    overview.overdue = [
        line("市民政局", "730", "报送落实进展"),
        line("市民政局", "730", "年终回头看"),
        line("市民政局", "152", "报送落实进展"),
        line("市财政局", "730", "报送落实进展"),  # the same item, another unit's part
    ]
    assert overview.overdue_count == 3
    assert overview.overdue_units == [("市民政局", 2), ("市财政局", 1)]
