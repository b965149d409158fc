import socket
import threading
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from smtp_server import LoopbackSMTP

from config.settings import Settings
from notifications.errors import DeliveryError
from notifications.mail import (
    POLICY,
    Attachment,
    MemoryBackend,
    OutboxBackend,
    OutgoingEmail,
    SmtpBackend,
    backend_from_settings,
    build_message,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUBJECT = "【督办提醒】请于2022年6月22日前报送2项建议提案落实进展"


SENT_AT = datetime(2022, 6, 15, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def make_email(**overrides: Any) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "to": ("jianwei@example.gov.cn",),
        "subject": SUBJECT,
        "text": "市住房和城乡建设局：\n\n截至2022年6月15日，以下事项尚未报送落实进展。\n",
        "html": "<p>市住房和城乡建设局：</p><p>截至2022年6月15日，以下事项尚未报送落实进展。</p>",
        "sender": "督办系统 <duban@minzheng.example.gov.cn>",
        "key": "digest:12:2022-06-15",
        "sent_at": SENT_AT,
    }
    return OutgoingEmail(**(fields | overrides))


def test_an_email_without_a_timezone_on_its_send_time_is_refused() -> None:
    with pytest.raises(ValueError, match="sent_at needs a timezone"):
        make_email(sent_at=datetime(2022, 6, 15, 9, 30))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_build_message_has_both_parts_and_a_message_id_fixed_by_the_key() -> None:
    message = build_message(make_email())

    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == SUBJECT
    assert message["X-Duban-Key"] == "digest:12:2022-06-15"
    assert message["Date"] == "Wed, 15 Jun 2022 09:30:00 +0800"  # when it was sent, not today
    text, html = parts(message)
    assert "截至2022年6月15日" in text
    assert html.startswith("<p>市住房和城乡建设局：</p>")
    message_id = message["Message-ID"]
    assert message_id.startswith("<digest-12-2022-06-15.")
    assert message_id.endswith("@minzheng.example.gov.cn>")
    assert build_message(make_email(subject="再次提醒"))["Message-ID"] == message_id
    assert build_message(make_email(key="digest:12:2022-06-22"))["Message-ID"] != message_id


@pytest.mark.parametrize(
    "filename",
    [
        "表.xlsx",  # beside "attachment;"
        "市民政局-落实.xlsx",  # on a line of its own
        "和平区交通运输局-落实情况填报表-20220615.xlsx",  # in sections
        "a" * 56 + "表",  # a section ends where a character would not fit
        "😀" * 20 + ".xlsx",
        "sheet-20220615.xlsx",  # ASCII: the email package's own way
    ],
)
def test_attachment_names_are_encoded_and_folded_as_the_email_package_does(filename: str) -> None:
    content = b"PK\x03\x04 workbook"
    email = make_email(attachments=(Attachment(filename, content, XLSX),))

    data = build_message(email).as_bytes()

    reference = EmailMessage(policy=POLICY)
    reference["Content-Disposition"] = "attachment"
    reference.set_param("filename", filename, header="Content-Disposition")
    folded = POLICY.fold_binary("Content-Disposition", reference["Content-Disposition"])
    assert folded in data
    [attachment] = BytesParser(policy=default).parsebytes(data).iter_attachments()
    assert attachment.get_filename() == filename
    assert attachment.get_content_type() == XLSX
    assert attachment.get_content() == content


def test_build_message_without_html_is_plain_text() -> None:
    message = build_message(make_email(html=""))

    assert message.get_content_type() == "text/plain"
    assert "截至2022年6月15日" in message.get_content()


def test_bodies_travel_in_seven_bit() -> None:
    raw = build_message(make_email()).as_bytes()

    assert raw.isascii()  # no 8BITMIME needed from the relay


def test_recipients_must_be_a_tuple_not_a_string() -> None:
    with pytest.raises(TypeError, match="tuple"):
        make_email(to="jianwei@example.gov.cn")


def test_outbox_writes_one_parseable_eml_per_key(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "outbox"  # created on first send
    backend = OutboxBackend(folder)

    backend.send(make_email())

    assert [path.name for path in folder.iterdir()] == ["digest-12-2022-06-15.eml"]
    raw = (folder / "digest-12-2022-06-15.eml").read_bytes()
    message = BytesParser(policy=default).parsebytes(raw)
    assert message["Subject"] == SUBJECT
    assert message["To"] == "jianwei@example.gov.cn"
    text, html = parts(message)
    assert "以下事项尚未报送落实进展" in text
    assert "以下事项尚未报送落实进展" in html


def test_outbox_resend_of_a_key_replaces_the_file(tmp_path: Path) -> None:
    backend = OutboxBackend(tmp_path)

    backend.send(make_email(subject="第一次"))
    backend.send(make_email(subject="第二次"))

    assert [path.name for path in tmp_path.iterdir()] == ["digest-12-2022-06-15.eml"]
    message = BytesParser(policy=default).parsebytes(
        (tmp_path / "digest-12-2022-06-15.eml").read_bytes()
    )
    assert message["Subject"] == "第二次"


def test_outbox_that_cannot_be_written_is_a_transient_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")

    with pytest.raises(DeliveryError) as caught:
        OutboxBackend(blocker).send(make_email())

    assert caught.value.permanent is False
    assert str(blocker) in str(caught.value)


@pytest.mark.parametrize("to", [(), ("",)])
def test_no_recipients_is_a_permanent_error(to: tuple[str, ...], tmp_path: Path) -> None:
    for backend in (MemoryBackend(), OutboxBackend(tmp_path), SmtpBackend("127.0.0.1", 1)):
        with pytest.raises(DeliveryError, match="no recipients") as caught:
            backend.send(make_email(to=to))
        assert caught.value.permanent is True
    assert list(tmp_path.iterdir()) == []


def test_memory_backend_keeps_the_built_messages() -> None:
    backend = MemoryBackend()

    backend.send(make_email())
    backend.send(
        make_email(key="digest:13:2022-06-15", to=("a@example.gov.cn", "b@example.gov.cn"))
    )

    assert [message["X-Duban-Key"] for message in backend.outbox] == [
        "digest:12:2022-06-15",
        "digest:13:2022-06-15",
    ]
    assert backend.outbox[1]["To"] == "a@example.gov.cn, b@example.gov.cn"


def test_smtp_delivers_to_a_real_server() -> None:
    with LoopbackSMTP() as server:
        SmtpBackend(server.host, server.port, timeout=5).send(make_email())

    [message] = server.messages
    assert message["Subject"] == SUBJECT
    assert message["From"] == "督办系统 <duban@minzheng.example.gov.cn>"
    assert message["X-Duban-Key"] == "digest:12:2022-06-15"
    text, html = parts(message)
    assert "截至2022年6月15日" in text
    assert "截至2022年6月15日" in html


@pytest.mark.parametrize(
    ("code", "reply", "at", "permanent"),
    [
        (451, "4.3.0 try later", "DATA", False),
        (550, "5.7.1 message rejected", "DATA", True),
        (450, "4.2.1 mailbox busy", "RCPT", False),
        (550, "5.1.1 no such user", "RCPT", True),
    ],
)
def test_smtp_refusals_map_to_permanent_or_transient(
    code: int, reply: str, at: Any, permanent: bool
) -> None:
    with LoopbackSMTP() as server:
        backend = SmtpBackend(server.host, server.port, timeout=5)
        server.refuse_with(code, reply, at=at)

        with pytest.raises(DeliveryError) as caught:
            backend.send(make_email())

        assert caught.value.permanent is permanent
        assert f"{code} {reply}" in str(caught.value)
        assert server.messages == []

        server.accept()
        backend.send(make_email())
        assert len(server.messages) == 1


def test_smtp_connection_refused_is_transient() -> None:
    port = closed_port()

    with pytest.raises(DeliveryError) as caught:
        SmtpBackend("127.0.0.1", port, timeout=5).send(make_email())

    assert caught.value.permanent is False
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_smtp_connect_sends_several_messages_over_one_connection() -> None:
    with LoopbackSMTP() as server:
        backend = SmtpBackend(server.host, server.port, timeout=5)
        with backend.connect() as mail:
            for number in range(3):
                mail.send(make_email(key=f"digest:{number}:2022-06-15"))
        backend.send(make_email(key="digest:3:2022-06-15"))  # alone: a connection of its own

        assert [m["X-Duban-Key"] for m in server.messages] == [
            f"digest:{number}:2022-06-15" for number in range(4)
        ]
        assert server.connections == 2


def test_a_connect_block_with_nothing_to_send_opens_no_connection() -> None:
    with LoopbackSMTP() as server:
        with SmtpBackend(server.host, server.port, timeout=5).connect():
            pass

        assert server.connections == 0


@pytest.mark.parametrize("reply", ["", "421 4.7.0 too many messages, closing"])
def test_a_connection_the_server_dropped_is_reopened_and_each_message_arrives_once(
    reply: str,
) -> None:
    with LoopbackSMTP() as server:
        server.drop_after(2, reply=reply)
        with SmtpBackend(server.host, server.port, timeout=5).connect() as mail:
            for number in range(5):
                mail.send(make_email(key=f"digest:{number}:2022-06-15"))

        assert [m["X-Duban-Key"] for m in server.messages] == [
            f"digest:{number}:2022-06-15" for number in range(5)
        ]
        assert server.connections == 2


def test_a_new_connection_dropped_at_once_is_not_tried_again() -> None:
    with LoopbackSMTP() as server:
        server.drop_after(0)
        with SmtpBackend(server.host, server.port, timeout=5).connect() as mail:
            with pytest.raises(DeliveryError) as caught:
                mail.send(make_email())
            assert caught.value.permanent is False
            assert "connection lost" in str(caught.value)
            assert server.connections == 1

            mail.send(make_email())  # the next message opens a new one

        assert len(server.messages) == 1 and server.connections == 2


def test_a_connection_lost_after_data_is_not_sent_again() -> None:
    # The server took the message but the connection went before its reply: sending it again
    # could deliver it twice, so the message fails (transient) and the batch goes on.
    with LoopbackSMTP() as server:
        server.drop_after(1, at="DATA")
        with SmtpBackend(server.host, server.port, timeout=5).connect() as mail:
            mail.send(make_email(key="digest:1:2022-06-15"))
            with pytest.raises(DeliveryError) as caught:
                mail.send(make_email(key="digest:2:2022-06-15"))
            mail.send(make_email(key="digest:3:2022-06-15"))

        assert caught.value.permanent is False
        assert [m["X-Duban-Key"] for m in server.messages] == [
            "digest:1:2022-06-15",
            "digest:2:2022-06-15",
            "digest:3:2022-06-15",
        ]
        assert server.connections == 2


def test_refusals_on_a_shared_connection_keep_it_for_the_next_message() -> None:
    with LoopbackSMTP() as server:
        server.refuse_address("nobody@example.gov.cn", 550, "5.1.1 no such user")
        with SmtpBackend(server.host, server.port, timeout=5).connect() as mail:
            with pytest.raises(DeliveryError) as refused:
                mail.send(make_email(to=("nobody@example.gov.cn",), key="digest:1:x"))
            server.refuse_with(451, "4.3.0 try later")
            with pytest.raises(DeliveryError) as later:
                mail.send(make_email(key="digest:2:x"))
            server.accept()
            mail.send(make_email(key="digest:3:x"))

        assert refused.value.permanent is True and "550 5.1.1 no such user" in str(refused.value)
        assert later.value.permanent is False and "451 4.3.0 try later" in str(later.value)
        assert [m["X-Duban-Key"] for m in server.messages] == ["digest:3:x"]
        assert server.connections == 1


def test_threads_share_a_connection_one_message_at_a_time() -> None:
    with LoopbackSMTP() as server:
        with SmtpBackend(server.host, server.port, timeout=5).connect() as mail:
            threads = [
                threading.Thread(target=mail.send, args=(make_email(key=f"digest:{n}:x"),))
                for n in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        assert sorted(m["X-Duban-Key"] for m in server.messages) == sorted(
            f"digest:{n}:x" for n in range(8)
        )
        assert server.connections == 1


def test_outbox_and_memory_backends_send_through_connect_too(tmp_path: Path) -> None:
    outbox, memory = OutboxBackend(tmp_path), MemoryBackend()
    for backend in (outbox, memory):
        with backend.connect() as mail:
            mail.send(make_email())

    assert [path.name for path in tmp_path.iterdir()] == ["digest-12-2022-06-15.eml"]
    assert [message["X-Duban-Key"] for message in memory.outbox] == ["digest:12:2022-06-15"]


def test_outbox_backend_from_settings(tmp_path: Path) -> None:
    backend = backend_from_settings(Settings(state_dir=tmp_path))

    assert isinstance(backend, OutboxBackend)
    assert backend.folder == tmp_path / "outbox"


def test_smtp_backend_from_settings_delivers() -> None:
    with LoopbackSMTP() as server:
        settings = Settings(
            mail_backend="smtp",
            smtp_host=server.host,
            smtp_port=server.port,
            smtp_password="s3cret",
            smtp_timeout=5,
        )
        backend = backend_from_settings(settings)
        backend.send(make_email())

    assert isinstance(backend, SmtpBackend)
    assert backend.password == "s3cret"
    assert [message["Subject"] for message in server.messages] == [SUBJECT]
