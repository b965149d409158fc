"""Claiming ledger messages for sending, on SQLite and PostgreSQL."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from tracking.db import transaction
from tracking.ledger import CLAIM_LEASE, Draft, claim, mark_failed, mark_sent, record_draft
from tracking.models import Notification

NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
CLAIMANTS = 6


def drafted(engine: Engine, key: str = "digest:1:2022-06-15") -> int:
    with transaction(engine) as session:
        note = record_draft(
            session,
            # A kind of its own: else each draft would supersede the one before.
            Draft(None, "email", key, key, ("a@example.org",), "主题", "正文", "<p>正文</p>"),
            now=NOW,
        )
        assert note is not None and note.id is not None
        return note.id


def claimed(engine: Engine, notification_id: int, now: datetime) -> Notification | None:
    with transaction(engine) as session:
        return claim(session, notification_id, now=now)


def test_a_claim_returns_the_message_with_its_attempt_counted(engine: Engine) -> None:
    note_id = drafted(engine)

    message = claimed(engine, note_id, NOW)

    assert message is not None
    assert (message.id, message.dedupe_key, message.recipients) == (
        note_id,
        "digest:1:2022-06-15",
        ["a@example.org"],
    )
    assert (message.subject, message.body_text, message.body_html) == (
        "主题",
        "正文",
        "<p>正文</p>",
    )
    assert message.attempts == 1 and message.claimed_until is not None
    with transaction(engine) as session:
        stored = session.get(Notification, note_id)
        assert stored is not None and stored.attempts == 1


def test_a_claimed_message_is_nobody_elses_until_its_lease_ends(engine: Engine) -> None:
    note_id = drafted(engine)
    assert claimed(engine, note_id, NOW) is not None

    assert claimed(engine, note_id, NOW + CLAIM_LEASE - timedelta(seconds=1)) is None
    again = claimed(engine, note_id, NOW + CLAIM_LEASE + timedelta(seconds=1))
    assert again is not None and again.attempts == 2


def test_sent_and_permanently_failed_messages_are_not_claimed(engine: Engine) -> None:
    sent, bounced, later = (
        drafted(engine, "k:sent"),
        drafted(engine, "k:bounced"),
        drafted(engine, "k:later"),
    )
    for note_id in (sent, bounced, later):
        assert claimed(engine, note_id, NOW) is not None
    with transaction(engine) as session:
        mark_sent(session, sent, now=NOW)
        mark_failed(session, bounced, error="550 no such user", permanent=True, now=NOW)
        mark_failed(session, later, error="451 try later", permanent=False, now=NOW)

    assert claimed(engine, sent, NOW) is None
    assert claimed(engine, bounced, NOW) is None
    retried = claimed(engine, later, NOW)  # a transient failure frees the claim at once
    assert retried is not None and retried.attempts == 2


def test_a_missing_message_is_not_claimed(engine: Engine) -> None:
    assert claimed(engine, 999_999, NOW) is None


def test_of_several_claimants_at_once_exactly_one_wins(engine: Engine) -> None:
    note_id = drafted(engine)
    start = threading.Barrier(CLAIMANTS, timeout=30)
    winners: list[int] = []
    errors: list[BaseException] = []

    def contend() -> None:
        try:
            start.wait()
            message = claimed(engine, note_id, NOW)
            if message is not None:
                winners.append(message.attempts)
        except BaseException as exc:  # reported below: a thread's exception is lost otherwise
            errors.append(exc)

    threads = [threading.Thread(target=contend) for _ in range(CLAIMANTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert winners == [1]
    with transaction(engine) as session:
        stored = session.get(Notification, note_id)
        assert stored is not None and stored.attempts == 1
