"""The chase's plain steps against a real SMTP server on loopback (no Prefect here)."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from http_server import LoopbackHTTP, Reply
from smtp_server import LoopbackSMTP
from sqlmodel import select

from flows import delivery
from flows.app import App
from notifications.mail import SmtpBackend
from tracking.db import transaction
from tracking.importer import import_table
from tracking.items import ItemRef, find_item, find_unit
from tracking.models import DeliveryStatus, Notification, ReminderLog, UpdateKind, UpdateSource
from tracking.units import load_units, read_units_file
from tracking.updates import record_update

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZONE)
JUNE = date(2022, 6, 15)
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
EXPECTED_RECIPIENTS = {
    "mzj-duban@example.org": 11,  # 市民政局 leads every item
    "wjw-duban@example.org": 4,
    "fgw-duban@example.org": 3,
    "rsj-duban@example.org": 4,
    "jyj-duban@example.org": 2,
    "gxj-duban@example.org": 1,
    "czj-duban@example.org": 1,
}


def chase(app: App, as_of: date, now: datetime = NOW) -> list[delivery.DeliveryOutcome]:
    """What the flow does, step by step, without Prefect."""
    chase_plan = delivery.plan(app, as_of, now)
    delivery.draft_digests(app, chase_plan, now=now)
    return delivery.deliver_each(app, delivery.pending_ids(app), now)


@pytest.fixture
def smtp():
    with LoopbackSMTP() as server:
        yield server


@pytest.fixture
def app(make_app, smtp: LoopbackSMTP, seed: Path) -> App:
    app = make_app(mail=SmtpBackend(smtp.host, smtp.port, timeout=5))
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    return app


def report(app: App, number: str, unit: str, on: date, *, final: bool = False) -> None:
    with transaction(app.engine) as session:
        record_update(
            session,
            item=find_item(session, ItemRef(number=number)),
            unit=find_unit(session, unit),
            text=f"{unit}的报告",
            kind=UpdateKind.FINAL if final else UpdateKind.PROGRESS,
            reported_on=on,
            source=UpdateSource.CLI,
            reported_by="test",
            now=NOW,
        )


def items_in(message) -> int:
    return message.get_body(("plain",)).get_content().count("事项编号：")


def test_one_digest_per_unit_with_its_items(app: App, smtp: LoopbackSMTP) -> None:
    outcomes = chase(app, JUNE)

    assert [o.status for o in outcomes] == ["sent"] * 7
    received = {m["To"]: m for m in smtp.messages}
    assert set(received) == set(EXPECTED_RECIPIENTS)
    assert {to: items_in(m) for to, m in received.items()} == EXPECTED_RECIPIENTS
    health = received["wjw-duban@example.org"]
    # Nothing reported since the year began: progress was due 2022-02-07 (30 days after
    # 1 January, moved past the Spring Festival holiday), so every item is overdue.
    assert health["Subject"] == "【督办提醒】4项建议提案事项待办理（其中4项已逾期）"
    assert health["Date"] == "Wed, 15 Jun 2022 09:30:00 +0800"  # the run's time, passed in
    body = health.get_body(("plain",)).get_content()
    assert body.startswith("市卫生健康委：")
    assert "关于完善街路标识牌的建议" in body and "需办理：报送落实进展" in body
    assert "办理时限：2022年2月7日（已逾期" in body
    assert "市民政局\n2022年6月15日" in body  # signed by the body


def test_a_run_delivers_its_digests_over_one_connection(app: App, smtp: LoopbackSMTP) -> None:
    outcomes = chase(app, JUNE)

    assert [o.status for o in outcomes] == ["sent"] * 7
    assert smtp.connections == 1


@pytest.mark.parametrize("reply", ["", "421 4.7.0 too many messages, closing"])
def test_a_connection_dropped_mid_run_is_reopened_and_each_digest_arrives_once(
    app: App, smtp: LoopbackSMTP, reply: str
) -> None:
    smtp.drop_after(3, reply=reply)
    outcomes = chase(app, JUNE)

    assert [o.status for o in outcomes] == ["sent"] * 7
    assert sorted(m["To"] for m in smtp.messages) == sorted(EXPECTED_RECIPIENTS)
    assert smtp.connections == 2
    with transaction(app.engine) as session:
        rows = session.exec(select(Notification)).all()
    assert {(n.status, n.attempts) for n in rows} == {(DeliveryStatus.SENT, 1)}


def test_a_connection_lost_after_data_fails_that_digest_only_and_a_retry_sends_it(
    app: App, smtp: LoopbackSMTP
) -> None:
    # The server took the 3rd digest but never said so: it is not sent again on the new
    # connection (the server may have it), but recorded as a transient failure for the next run.
    smtp.drop_after(2, at="DATA")
    first = chase(app, JUNE)

    assert [o.status for o in first] == ["sent", "sent", "failed"] + ["sent"] * 4
    assert "connection lost" in first[2].error
    assert len(smtp.messages) == 7 and smtp.connections == 2
    with transaction(app.engine) as session:
        rows = {n.id: n for n in session.exec(select(Notification)).all()}
    failed = rows.pop(first[2].notification_id)
    assert (failed.status, failed.permanent_failure) == (DeliveryStatus.FAILED, False)
    # Each other one is marked sent, the one before the failure too (with the failure's claim).
    assert {n.status for n in rows.values()} == {DeliveryStatus.SENT}

    again = chase(app, JUNE, now=NOW.replace(hour=10))
    assert [(o.notification_id, o.status) for o in again] == [(first[2].notification_id, "sent")]


def test_a_second_run_the_same_day_sends_nothing(app: App, smtp: LoopbackSMTP) -> None:
    chase(app, JUNE)
    again = chase(app, JUNE, now=NOW.replace(hour=15))

    assert again == []
    assert len(smtp.messages) == 7
    with transaction(app.engine) as session:
        rows = session.exec(select(Notification)).all()
    assert len(rows) == 7 and {r.status for r in rows} == {DeliveryStatus.SENT}


def test_a_refusing_server_is_recorded_and_the_next_run_delivers(
    app: App, smtp: LoopbackSMTP
) -> None:
    smtp.refuse_with(451, "4.3.0 mailbox busy, try later")
    first = chase(app, JUNE)

    assert {o.status for o in first} == {"failed"}
    assert "451" in first[0].error
    with transaction(app.engine) as session:
        failed = session.exec(select(Notification)).all()
    assert {(n.status, n.attempts, n.permanent_failure) for n in failed} == {
        (DeliveryStatus.FAILED, 1, False)
    }
    assert all("4.3.0 mailbox busy" in n.last_error for n in failed)
    assert smtp.messages == []
    assert smtp.connections == 1  # a refusal leaves the connection to the next message

    smtp.accept()
    second = chase(app, JUNE, now=NOW.replace(hour=10))

    assert [o.status for o in second] == ["sent"] * 7
    assert len(smtp.messages) == 7
    with transaction(app.engine) as session:
        sent = session.exec(select(Notification)).all()
    assert {(n.status, n.attempts, n.last_error) for n in sent} == {(DeliveryStatus.SENT, 2, "")}


def test_one_refused_recipient_does_not_stop_the_others(app: App, smtp: LoopbackSMTP) -> None:
    with transaction(app.engine) as session:
        find_unit(session, "市财政局").emails = ["nobody@example.org"]
    smtp.refuse_address("nobody@example.org", 550, "5.1.1 no such user")
    outcomes = chase(app, JUNE)

    assert sorted(o.status for o in outcomes) == ["failed"] + ["sent"] * 6
    assert len(smtp.messages) == 6 and smtp.connections == 1
    with transaction(app.engine) as session:
        failed = session.exec(
            select(Notification).where(Notification.status == DeliveryStatus.FAILED)
        ).one()
    assert failed.permanent_failure and "550" in failed.last_error
    # A permanent failure is not retried by the next run.
    assert chase(app, JUNE, now=NOW.replace(hour=11)) == []


def test_a_unit_without_e_mail_is_skipped_and_says_why(make_app, seed: Path) -> None:
    app = make_app()  # the outbox backend; no units file loaded, so nobody has an address
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)

    planned = delivery.plan(app, JUNE, NOW)
    outcomes = chase(app, JUNE)

    assert planned.digests == [] and outcomes == []
    assert {d.decision for d in planned.decisions} == {"skipped"}
    assert {d.rule for d in planned.decisions if d.entry.unit_name == "市财政局"} == {
        "市财政局 has no e-mail on file (see `duban units check`)"
    }
    assert not list(app.settings.resolved_outbox_dir.glob("*.eml"))


def test_the_outbox_default_writes_one_eml_per_unit(make_app, seed: Path) -> None:
    app = make_app()
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")

    chase(app, JUNE)
    chase(app, JUNE)

    files = sorted(app.settings.resolved_outbox_dir.glob("*.eml"))
    assert len(files) == 7
    assert files[0].name.startswith("digest-") and files[0].name.endswith("-2022-06-15.eml")


def test_recent_reports_are_not_chased_and_later_ones_are_not_seen(
    app: App, smtp: LoopbackSMTP
) -> None:
    report(app, "152", "市卫生健康委", date(2022, 6, 1))  # within 30 days: nothing owed
    report(app, "730", "市卫生健康委", date(2022, 6, 20))  # after as_of: not seen

    chase(app, JUNE)

    health = next(m for m in smtp.messages if m["To"] == "wjw-duban@example.org")
    body = health.get_body(("plain",)).get_content()
    assert items_in(health) == 3
    assert "第152号" not in body and "第730号" in body


def test_a_leads_final_feedback_closes_the_item_for_everyone(app: App, smtp: LoopbackSMTP) -> None:
    report(app, "152", "市民政局", date(2022, 6, 10), final=True)  # 市卫生健康委 co-handles 152

    chase(app, JUNE)

    bodies = {m["To"]: m.get_body(("plain",)).get_content() for m in smtp.messages}
    assert "第152号" not in bodies["wjw-duban@example.org"]
    assert "第152号" not in bodies["mzj-duban@example.org"]
    assert items_in(next(m for m in smtp.messages if m["To"] == "mzj-duban@example.org")) == 10


def test_a_new_day_supersedes_an_undelivered_digest(app: App, smtp: LoopbackSMTP) -> None:
    smtp.refuse_with(451, "4.3.0 try later")
    chase(app, JUNE)
    smtp.accept()

    chase(app, date(2022, 6, 16), now=NOW.replace(day=16))

    assert len(smtp.messages) == 7  # the fresh digests only, not yesterday's as well
    with transaction(app.engine) as session:
        statuses = sorted(n.status for n in session.exec(select(Notification)))
    assert statuses == [DeliveryStatus.SENT] * 7 + [DeliveryStatus.SUPERSEDED] * 7


def test_a_unit_with_a_webhook_gets_its_digest_there_too(app: App, smtp: LoopbackSMTP) -> None:
    with LoopbackHTTP() as robot:
        with transaction(app.engine) as session:
            find_unit(session, "市财政局").webhook = {
                "kind": "json",
                "url": robot.url("/hooks/duban"),
                "secret": "s3cret",
            }
        robot.reply(Reply(status=503), Reply(status=200))  # one transient error, then accepted

        outcomes = chase(app, JUNE)

        assert sorted(o.status for o in outcomes) == ["sent"] * 8  # 7 e-mails and 1 webhook
        assert [r.path for r in robot.requests] == ["/hooks/duban", "/hooks/duban"]
        posted = robot.requests[-1].json
        assert posted["key"] == "digest:" + str(find_id(app, "市财政局")) + ":2022-06-15:webhook"
        assert posted["title"] == "【督办提醒】1项建议提案事项待办理（其中1项已逾期）"
        assert "第379号" in posted["text"]
        # The e-mail carries the unit's link and sheet; the robot, which posts to a group chat,
        # carries neither (the link is a credential).
        [mail] = [m for m in smtp.messages if m["To"] == "czj-duban@example.org"]
        assert "在线填报：" in mail.get_body(("plain",)).get_content()
        assert "在线填报" not in posted["text"] and "/u/" not in posted["text"]
        assert "填报表" not in posted["text"]
        assert robot.requests[-1].headers["X-Duban-Signature"].startswith("sha256=")


def find_id(app: App, name: str) -> int:
    with transaction(app.engine) as session:
        return find_unit(session, name).id  # type: ignore[return-value]


def test_obligations_of_one_unit_or_item_are_those_of_the_whole_year(app: App) -> None:
    # The unit page, the unit's sheet and an item's page ask for a part of the year: the part
    # must be exactly what the whole year's list says of it, names of the other units included.
    from tracking.chase import collect_obligations

    def obligations(session, **part):
        return collect_obligations(
            session,
            as_of=JUNE,
            policy=app.policy,
            calendar=app.calendar,
            interval_days=app.settings.report_interval_days,
            **part,
        )

    report(app, "152", "市卫生健康委", date(2022, 6, 1))  # one unit's facts differ
    with transaction(app.engine) as session:
        everything = obligations(session)
        health = find_unit(session, "市卫生健康委")
        item = find_item(session, ItemRef(number="152"))
        of_unit = obligations(session, unit_id=health.id)
        of_item = obligations(session, item_ids=[item.id])
    assert len({o.unit_id for o in everything}) == 7
    assert of_unit == [o for o in everything if o.unit_id == health.id]
    assert len(of_unit) == 4 and {o.unit_name for o in of_unit} == {"市卫生健康委"}
    assert of_item == [o for o in everything if o.item_id == item.id]
    assert {o.lead_unit for o in of_item} == {"市民政局"} and len(of_item[0].co_units) >= 1
    reported = [o for o in of_item if o.unit_id == health.id]
    assert [o.last_reported_on for o in reported] == [date(2022, 6, 1)]
    assert reported[0].deadline.due > min(o.deadline.due for o in of_item)


def test_a_decision_is_logged_once_a_day_beside_the_digests_sent(app: App) -> None:
    held_at = datetime(2022, 6, 15, 8, 0, tzinfo=ZONE)  # before office hours
    for _ in range(2):  # a re-run finds the rows of the first
        planned = delivery.plan(app, JUNE, held_at)
        delivery.draft_digests(app, planned, now=held_at)
    chase(app, JUNE)  # at 09:30: every digest sent, one "sent" row per entry

    with transaction(app.engine) as session:
        logs = session.exec(select(ReminderLog).where(ReminderLog.run_on == JUNE)).all()
    sent = [log for log in logs if log.decision == "sent"]
    held = [log for log in logs if log.decision == "held"]
    assert len(planned.decisions) == sum(EXPECTED_RECIPIENTS.values())
    assert len(held) == len(sent) == len(planned.decisions)
