"""The handling workflow: legal moves with events that say who and why; illegal ones refused."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from config.policy import Policy
from tracking.db import transaction
from tracking.deadlines import objection_deadline
from tracking.errors import ConflictError, InputError
from tracking.handling import (
    extend_deadline,
    object_to_assignment,
    rate_reply,
    reassign,
    record_reply,
    sign_for,
)
from tracking.items import NewItem, assign_item, find_unit
from tracking.models import (
    Assignment,
    AssignmentStatus,
    Event,
    FollowUpItem,
    ItemStatus,
    UpdateKind,
    UpdateSource,
)
from tracking.units import UnitDirectory
from tracking.updates import record_update
from tracking.workdays import WorkCalendar

NOW = datetime(2023, 2, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
POLICY = Policy()
CALENDAR = WorkCalendar()


@pytest.fixture
def item_id(engine: Engine) -> int:
    with transaction(engine) as session:
        item = assign_item(
            session,
            NewItem(
                year=2023,
                category="政协提案",
                number="88",
                commitment="建设社区食堂",
                lead_unit="市民政局",
                co_units=("市卫生健康委",),
                assigned_on=date(2023, 2, 15),
                title="关于社区食堂的提案",
            ),
            now=NOW,
            actor="coordinator",
        )
        return item.id  # type: ignore[return-value]


def status_events(session: Session, item_id: int) -> list[tuple[str, str, str, str]]:
    return [
        (e.before["status"], e.after["status"], e.actor, e.reason)  # type: ignore[index]
        for e in session.exec(
            select(Event)
            .where(Event.entity_id == item_id, Event.action == "item.status")
            .order_by(Event.id)
        )
    ]


def test_sign_reply_rate_reopen_reply_follow_up(engine: Engine, item_id: int) -> None:
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        home = find_unit(session, "市民政局")
        sign_for(session, item, home, now=NOW, actor="李联络")
        record_reply(
            session, item, home, text="已答复", reply_class="A", follows_up=False,
            on=date(2023, 4, 1), source=UpdateSource.CLI, now=NOW, actor="李联络",
        )  # fmt: skip
        rate_reply(
            session, item, rating="不满意", reopens=True, on=date(2023, 4, 10), now=NOW,
            actor="代表联络处",
        )  # fmt: skip
        record_reply(
            session, item, home, text="再次答复", reply_class="B", follows_up=True,
            on=date(2023, 5, 5), source=UpdateSource.CLI, now=NOW, actor="李联络",
        )  # fmt: skip
        assert item.status == ItemStatus.FOLLOWING
        assert (item.reply_class, item.replied_on, item.rating) == ("B", date(2023, 5, 5), None)
        assert status_events(session, item_id) == [
            ("assigned", "handling", "李联络", "主办单位签收"),
            ("handling", "replied", "李联络", "replied, class A"),
            ("replied", "reopened", "代表联络处", "rated 不满意"),
            ("reopened", "replied", "李联络", "replied, class B"),
            ("replied", "following", "李联络", "class B stays under follow-up"),
        ]


def test_an_illegal_move_is_refused_with_the_allowed_ones(engine: Engine, item_id: int) -> None:
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        with pytest.raises(ConflictError) as caught:
            rate_reply(session, item, rating="满意", reopens=False, on=date(2023, 3, 1), now=NOW,
                       actor="x")  # fmt: skip
        assert str(caught.value) == f"item {item_id} has no reply to rate yet"
        record_update(
            session, item=item, unit=find_unit(session, "市民政局"), text="办结",
            kind=UpdateKind.FINAL, reported_on=date(2023, 3, 1), source=UpdateSource.CLI,
            reported_by="x", now=NOW,
        )  # fmt: skip
        with pytest.raises(ConflictError) as caught:
            sign_for(session, item, find_unit(session, "市卫生健康委"), now=NOW, actor="x")
        assert str(caught.value) == f"市卫生健康委 has already signed for item {item_id}"
        with pytest.raises(ConflictError) as caught:
            record_reply(
                session, item, find_unit(session, "市民政局"), text="x", reply_class="A",
                follows_up=False, on=date(2023, 3, 2), source=UpdateSource.CLI, now=NOW,
                actor="x",
            )  # fmt: skip
        assert str(caught.value) == f"item {item_id} is resolved; it needs no reply"


def test_returning_within_the_window_then_reassigning(engine: Engine, item_id: int) -> None:
    window = objection_deadline(date(2023, 2, 15), POLICY.deadlines, CALENDAR).due
    assert window == date(2023, 2, 22)  # 5 working days after Wednesday 02-15
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        home, health = find_unit(session, "市民政局"), find_unit(session, "市卫生健康委")
        with pytest.raises(ConflictError, match=r"window to return item \d+ closed on 2023-02-22"):
            object_to_assignment(
                session, item, home, on=date(2023, 2, 23), reason="不属于本单位职责",
                window_ends=window, override=False, now=NOW, actor="x",
            )  # fmt: skip
        object_to_assignment(
            session, item, home, on=date(2023, 2, 20), reason="不属于本单位职责",
            window_ends=window, override=False, now=NOW, actor="市民政局",
        )  # fmt: skip
        assert item.status == ItemStatus.RETURNED
        with pytest.raises(ConflictError, match="市民政局 returned item"):
            record_update(
                session, item=item, unit=home, text="x", kind=UpdateKind.PROGRESS,
                reported_on=date(2023, 2, 21), source=UpdateSource.CLI, reported_by="x", now=NOW,
            )  # fmt: skip
        with pytest.raises(ConflictError, match="already assigned"):
            reassign(
                session, item, from_unit=home, to_unit=health, on=date(2023, 2, 24),
                reason="调整", override=False, now=NOW, actor="coordinator",
            )  # fmt: skip
        civil, _ = UnitDirectory(session).get_or_create("市城乡建设局", now=NOW, actor="x")
        new = reassign(
            session, item, from_unit=home, to_unit=civil, on=date(2023, 2, 24),
            reason="调整至住建部门", override=False, now=NOW, actor="coordinator",
        )  # fmt: skip
        assert (new.role, new.status) == ("lead", AssignmentStatus.ASSIGNED)
        assert (item.status, item.assigned_on) == (ItemStatus.ASSIGNED, date(2023, 2, 24))
        old = session.exec(
            select(Assignment).where(Assignment.item_id == item_id, Assignment.unit_id == home.id)
        ).one()
        assert old.status == AssignmentStatus.CLOSED


def test_extensions_need_reason_and_approver_and_stay_within_the_cap(
    engine: Engine, item_id: int
) -> None:
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)

        def extend(months: int, reason: str = "论证", approver: str = "办公厅"):  # type: ignore[no-untyped-def]
            return extend_deadline(
                session, item, months=months, reason=reason, approved_by=approver,
                approved_on=date(2023, 5, 1), cap_months=3, now=NOW, actor="coordinator",
            )  # fmt: skip

        with pytest.raises(InputError, match="needs a reason"):
            extend(1, reason=" ")
        with pytest.raises(InputError, match="needs its approver"):
            extend(1, approver="")
        extend(2)
        with pytest.raises(ConflictError, match="already has 2 month"):
            extend(2)
        extend(1)
