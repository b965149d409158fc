"""A whole simulated year, chased day by day against a real SMTP server on loopback.

2023, with its Spring Festival, Labour Day, Dragon Boat and National Day make-up working days.
Two proposals are assigned on 15 February; the units sign, give opinions, ask for an extension,
reply late, get an unsatisfied rating, stay under follow-up and pass the year-end check. The test
asserts exactly which reminders go out on which dates and to whom. The expected dates were worked
out by hand from the policy (config/policy.toml) and the 2023 calendar; each is explained below.
"""

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from smtp_server import LoopbackSMTP
from sqlmodel import Session, select

from config.policy import Policy
from flows import delivery
from flows.app import App
from notifications.mail import SmtpBackend
from tracking.db import transaction
from tracking.handling import (
    close_item,
    extend_deadline,
    rate_reply,
    record_reply,
    set_pause,
    sign_for,
    snooze_unit,
)
from tracking.items import ItemRef, NewItem, assign_item, find_item, find_unit
from tracking.models import ReminderLog, UpdateKind, UpdateSource
from tracking.units import UnitEntry, load_units
from tracking.updates import record_update

ZONE = ZoneInfo("Asia/Shanghai")
ASSIGNED = date(2023, 2, 15)
HOME, HEALTH, FINANCE = "市民政局", "市卫生健康委", "市财政局"
COORDINATOR = "ducha@example.org"

# (day, recipient) -> [(proposal number, what is owed)] in each message received that day.
EXPECTED: dict[tuple[str, str], list[tuple[str, str]]] = {
    # 卫健委's opinion on 101 is due a month after assignment (03-15): reminded 5 working days
    # before; it gives the opinion the next day, so nothing follows.
    ("2023-03-08", "wjw@example.org"): [("101", "向主办单位提交协办意见")],
    # 财政局's reply on 202 is due 3 months after assignment (05-15): 5 working days before, on
    # the day (the 08:00 run is held until office hours), then every 3 working days.
    ("2023-05-08", "czj@example.org"): [("202", "答复代表委员")],
    ("2023-05-15", "czj@example.org"): [("202", "答复代表委员")],
    ("2023-05-18", "czj@example.org"): [("202", "答复代表委员")],
    # From 05-23 czj@ bounces (550): each digest falls back to the deputy.
    ("2023-05-23", "czj-deputy@example.org"): [("202", "答复代表委员")],
    # Two overdue reminders have gone out: the third also goes to the head.
    ("2023-05-26", "czj-deputy@example.org"): [("202", "答复代表委员")],
    ("2023-05-26", "czj-head@example.org"): [("202", "答复代表委员")],
    # 101's reply was extended by a month on 05-05 (due 06-15): 5 working days before.
    ("2023-06-08", "mzj@example.org"): [("101", "答复代表委员")],
    # 202 was rated 不满意 on 05-30: a new reply is due a month later (06-30); 5 working days
    # before is Sunday 06-25, a make-up working day for 端午.
    ("2023-06-25", "czj-deputy@example.org"): [("202", "重新办理并再次答复")],
    # 101 (class B) is under follow-up from its reply on 06-09: progress every 90 days, due
    # 09-07. 民政局 is snoozed until 08-31, so its reminder waits for 09-01.
    ("2023-08-31", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-09-01", "mzj@example.org"): [("101", "报送落实进展")],
    ("2023-09-07", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-09-12", "wjw@example.org"): [("101", "报送落实进展")],
    # Paused on 09-15 (the stage reached that day waits), resumed: it goes out on 09-18.
    ("2023-09-18", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-09-20", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-09-20", "wjw-head@example.org"): [("101", "报送落实进展")],
    ("2023-09-25", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-09-25", "wjw-head@example.org"): [("101", "报送落实进展")],
    # Four overdue reminders have gone out: the fifth also goes to the coordinator.
    ("2023-09-28", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-09-28", "wjw-head@example.org"): [("101", "报送落实进展")],
    ("2023-09-28", COORDINATOR): [("101", "报送落实进展")],
    # National Day: 3 working days after 09-28 are Saturday 10-07, Sunday 10-08 (make-up days)
    # and Monday 10-09.
    ("2023-10-09", "wjw@example.org"): [("101", "报送落实进展")],
    ("2023-10-09", "wjw-head@example.org"): [("101", "报送落实进展")],
    ("2023-10-09", COORDINATOR): [("101", "报送落实进展")],
    # The second reply and the year-end check of class B are due 11-20; the second reply on
    # 11-14 comes after this reminder, so the 11-20 reminder is skipped.
    ("2023-11-13", "mzj@example.org"): [("101", "再次答复"), ("101", "年终回头看")],
}


def unit(name: str, short: str, *, deputy: bool = False) -> UnitEntry:
    return UnitEntry(
        name=name,
        emails=[f"{short}@example.org"],
        head=f"{short}-head@example.org",
        deputy=f"{short}-deputy@example.org" if deputy else None,
    )


def at(day: date, hour: int = 9, minute: int = 30) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


@pytest.fixture
def smtp():
    with LoopbackSMTP() as server:
        yield server


@pytest.fixture
def year_app(make_app, smtp: LoopbackSMTP) -> App:
    policy = Policy()
    policy = policy.model_copy(
        update={"ladder": policy.ladder.model_copy(update={"coordinator_emails": (COORDINATOR,)})}
    )
    app = make_app(mail=SmtpBackend(smtp.host, smtp.port, timeout=5), report_interval_days=90)
    app.policy = policy
    now = at(ASSIGNED)
    with transaction(app.engine) as session:
        load_units(
            session,
            [unit(HOME, "mzj"), unit(HEALTH, "wjw"), unit(FINANCE, "czj", deputy=True)],
            now=now,
            actor="test",
        )
        for number, category, lead, co in (
            ("101", "政协提案", HOME, (HEALTH,)),
            ("202", "人大建议", FINANCE, ()),
        ):
            assign_item(
                session,
                NewItem(
                    year=2023,
                    category=category,
                    number=number,
                    commitment=f"第{number}号的落实事项",
                    lead_unit=lead,
                    co_units=co,
                    assigned_on=ASSIGNED,
                    title=f"关于第{number}号的建议提案",
                    lead_representative="张 三",
                ),
                now=now,
                actor="coordinator",
            )
    return app


def run_chase(app: App, day: date, now: datetime) -> None:
    chase_plan = delivery.plan(app, day, now)
    delivery.draft_digests(app, chase_plan, now=now)
    delivery.deliver_each(app, delivery.pending_ids(app), now)


def events(app: App, smtp: LoopbackSMTP) -> dict[date, Callable[[Session, datetime], None]]:
    def item(session: Session, number: str):  # type: ignore[no-untyped-def]
        return find_item(session, ItemRef(number=number))

    def report(number: str, who: str, kind: UpdateKind) -> Callable[[Session, datetime], None]:
        def act(session: Session, now: datetime) -> None:
            record_update(
                session, item=item(session, number), unit=find_unit(session, who),
                text=f"{who}报告", kind=kind, reported_on=now.date(), source=UpdateSource.CLI,
                reported_by=who, now=now,
            )  # fmt: skip

        return act

    def reply(number: str, who: str, reply_class: str) -> Callable[[Session, datetime], None]:
        def act(session: Session, now: datetime) -> None:
            record_reply(
                session, item(session, number), find_unit(session, who), text="答复",
                reply_class=reply_class,
                follows_up=app.policy.reply_classes.get(reply_class).follow_up,
                on=now.date(), source=UpdateSource.CLI, now=now, actor=who,
            )  # fmt: skip

        return act

    def rate(number: str, rating: str) -> Callable[[Session, datetime], None]:
        def act(session: Session, now: datetime) -> None:
            rate_reply(
                session, item(session, number), rating=rating,
                reopens=app.policy.deadlines.reopens(rating), on=now.date(), now=now,
                actor="coordinator",
            )  # fmt: skip

        return act

    def bounce(session: Session, now: datetime) -> None:
        smtp.refuse_address("czj@example.org", 550, "5.1.1 mailbox unavailable")

    return {
        date(2023, 2, 16): lambda s, now: sign_for(
            s, item(s, "101"), find_unit(s, HOME), now=now, actor=HOME
        ),
        date(2023, 3, 9): report("101", HEALTH, UpdateKind.FINAL),  # the co unit's opinion
        date(2023, 5, 5): lambda s, now: extend_deadline(
            s,
            item(s, "101"),
            months=1,
            reason="需会同多部门论证",
            approved_by="市政府办公厅",
            approved_on=now.date(),
            cap_months=3,
            now=now,
            actor="coordinator",
        ),
        date(2023, 5, 22): bounce,
        date(2023, 5, 29): reply("202", FINANCE, "A"),
        date(2023, 5, 30): rate("202", "不满意"),
        date(2023, 6, 9): reply("101", HOME, "B"),
        date(2023, 6, 28): reply("202", FINANCE, "A"),
        date(2023, 7, 10): rate("202", "满意"),
        date(2023, 7, 11): lambda s, now: close_item(
            s,
            item(s, "202"),
            on=now.date(),
            reason="答复满意，A类办结",
            now=now,
            actor="coordinator",
        ),
        date(2023, 8, 30): lambda s, now: snooze_unit(
            s,
            find_unit(s, HOME),
            until=date(2023, 8, 31),
            reason="主要负责人外出",
            now=now,
            actor="coordinator",
        ),
        date(2023, 9, 4): report("101", HOME, UpdateKind.PROGRESS),
        date(2023, 9, 14): lambda s, now: set_pause(
            s, paused=True, reason="系统维护", now=now, actor="coordinator"
        ),
        date(2023, 9, 15): lambda s, now: set_pause(
            s, paused=False, reason="", now=now, actor="coordinator"
        ),
        date(2023, 10, 10): report("101", HEALTH, UpdateKind.PROGRESS),
        date(2023, 11, 14): reply("101", HOME, "B"),  # the second reply
        date(2023, 11, 21): report("101", HOME, UpdateKind.FINAL),  # year-end check passed
    }


def test_a_year_of_reminders(year_app: App, smtp: LoopbackSMTP) -> None:
    received: dict[tuple[str, str], list[tuple[str, str]]] = {}
    happenings = events(year_app, smtp)
    day = ASSIGNED + timedelta(days=1)
    while day <= date(2023, 12, 31):
        if day == date(2023, 5, 15):
            run_chase(year_app, day, at(day, 8, 0))  # before office hours: held
        before = len(smtp.messages)
        run_chase(year_app, day, at(day))
        for message in smtp.messages[before:]:
            received[(day.isoformat(), message["To"])] = digest_lines(message)
        if day in happenings:
            with transaction(year_app.engine) as session:
                happenings[day](session, at(day, 16, 0))
        day += timedelta(days=1)

    assert received == EXPECTED

    with transaction(year_app.engine) as session:
        logs = session.exec(select(ReminderLog).order_by(ReminderLog.id)).all()
    decisions = {(log.run_on.isoformat(), log.decision, log.rule.split(":")[0]) for log in logs}
    assert ("2023-05-15", "held", "held") in decisions
    assert ("2023-08-31", "skipped", f"{HOME} is snoozed until 2023-08-31") in decisions
    assert ("2023-09-15", "skipped", "reminders are paused by coordinator") in decisions
    skipped_after_report = [
        log for log in logs if log.run_on == date(2023, 11, 20) and log.decision == "skipped"
    ]
    assert [log.rule for log in skipped_after_report] == [
        f"{HOME} reported on 2023-11-14, after the last reminder on 2023-11-13"
    ]


def digest_lines(message) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(number, what is owed) for each item in a received digest, in order."""
    body = message.get_body(("plain",)).get_content()
    numbers = re.findall(r"^\d+\. \S+第(\S+?)号：", body, flags=re.MULTILINE)
    owed = [line.split("需办理：")[1] for line in body.splitlines() if "需办理：" in line]
    return list(zip(numbers, owed, strict=True))
