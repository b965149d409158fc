"""Email delivery: build a MIME message from an :class:`OutgoingEmail`, hand it to a backend.

A backend sends with ``send(email) -> None``, which raises :class:`DeliveryError` (with
``permanent`` set) when the message did not go out. For several messages, ``with
backend.connect() as mail:`` gives a sender with the same ``send`` that keeps one connection
for the block, as Django's backends do between ``open()`` and ``close()``. Which backend runs
is one setting, ``mail_backend``, as in Django:

- ``outbox`` (the default): one ``.eml`` file per message in a folder, readable by any mail client.
- ``smtp``: one SMTP connection per ``send``, or per ``connect()`` block.

:class:`MemoryBackend` keeps built messages in a list, for tests.
"""

import hashlib
import logging
import os
import re
import smtplib
import threading
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from pathlib import Path
from ssl import create_default_context
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote

from config.settings import Settings
from notifications.errors import DeliveryError

logger = logging.getLogger(__name__)

# Bodies in 7-bit-safe transfer encodings (base64 for Chinese text): not every relay a government
# office runs advertises 8BITMIME, and smtplib does not ask for it.
POLICY = default_policy.clone(cte_type="7bit")


@dataclass(frozen=True, kw_only=True)
class OutgoingEmail:
    """One message, ready to send.

    ``key`` identifies the message across retries (e.g. ``digest:12:2022-06-15``): it fixes the
    Message-ID, the ``X-Duban-Key`` header and the outbox file name, so sending the same key twice
    replaces rather than adds a file, and a receiving server can spot the duplicate.
    """

    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    sender: str
    key: str
    sent_at: datetime  # the Date header; timezone-aware
    attachments: tuple["Attachment", ...] = ()

    def __post_init__(self) -> None:
        # A bare string would be iterated into one "recipient" per character.
        if isinstance(self.to, str):
            raise TypeError("OutgoingEmail.to must be a tuple of addresses, not a string")
        if self.sent_at.tzinfo is None:
            raise ValueError("OutgoingEmail.sent_at needs a timezone")
        if not _safe_key(self.key):
            raise ValueError(f"OutgoingEmail.key needs letters or digits: {self.key!r}")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


class MailSender(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...


class MailBackend(MailSender, Protocol):
    def connect(self) -> AbstractContextManager[MailSender]:
        """A sender for several messages, its connection (if any) open until the block ends."""
        ...


def build_message(email: OutgoingEmail) -> EmailMessage:
    """The MIME message for ``email``: text only, or multipart/alternative when there is HTML,
    inside multipart/mixed when there are attachments."""
    message = EmailMessage(policy=POLICY)
    message["From"] = email.sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(email.sent_at)
    message["Message-ID"] = _message_id(email)
    message["X-Duban-Key"] = email.key
    message.set_content(email.text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    for attachment in email.attachments:
        _attach(message, attachment)
    return message


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    maintype, _, subtype = attachment.mime_type.partition("/")
    disposition = _disposition(attachment.filename)
    if disposition is None:
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
        return
    message.add_attachment(attachment.content, maintype=maintype, subtype=subtype)
    part = message.get_payload()[-1]
    del part["Content-Disposition"]
    part.set_raw("Content-Disposition", disposition)  # written as it is


def _disposition(filename: str) -> str | None:
    """``attachment`` with a Chinese ``filename``, RFC 2231-encoded and folded exactly as the
    email package folds it: on the first line if it fits, else on a line of its own, else in
    numbered sections of whole characters (``filename*0*=utf-8''…;`` ``filename*1*=…``).

    The package quotes the name again for every character it moves to the next section: 1.5 ms
    of CPU for a unit's sheet, a tenth of a digest's delivery. None for an ASCII name (cheap for
    the package) or one that is not text (undecodable bytes), left to the package."""
    if filename.isascii():
        return None
    try:
        quoted = [quote(char, safe="", errors="strict") for char in filename]
    except UnicodeEncodeError:
        return None
    width = POLICY.max_line_length or 78
    whole = "filename*=utf-8''" + "".join(quoted)
    if len("Content-Disposition: attachment;") + len(whole) + 1 < width:
        return f"attachment; {whole}"
    if len(whole) + 2 <= width:
        return f"attachment;\n {whole}"
    lines, section, charset, start = ["attachment"], 0, "utf-8''", 0
    while start < len(quoted):
        # The package's arithmetic: " filename*N*=" + charset + value + ";" within the width.
        room = width - (len("filename") + len(str(section)) + 3 + len(charset)) - 2
        end, size = start, 0
        while end < len(quoted) and size + len(quoted[end]) <= room:
            size += len(quoted[end])
            end += 1
        lines.append(f" filename*{section}*={charset}{''.join(quoted[start:end])}")
        section, charset, start = section + 1, "", end
    return ";\n".join(lines)


class OutboxBackend:
    """Writes each message to ``<folder>/<key>.eml``; a resend of the same key replaces the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def connect(self) -> AbstractContextManager[MailSender]:
        return nullcontext(self)  # nothing to keep open

    def send(self, email: OutgoingEmail) -> None:
        _require_recipients(email)
        data = build_message(email).as_bytes()
        path = self.folder / f"{_safe_key(email.key)}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
        except OSError as exc:
            raise DeliveryError(f"{path}: cannot write: {exc}", permanent=False) from exc


class _NotesContent:
    """Notes when a message reaches DATA: from then on, a lost connection may have delivered
    it."""

    content_started = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.content_started = True
        return super().data(msg)  # type: ignore[misc]


class _Client(_NotesContent, smtplib.SMTP):
    pass


class _SslClient(_NotesContent, smtplib.SMTP_SSL):
    pass


class SmtpBackend:
    """Sends over SMTP: each :meth:`send` on a connection of its own, or the messages of a
    :meth:`connect` block over one connection.

    Replies and errors map to :class:`DeliveryError`: 5xx replies are permanent; 4xx replies,
    dropped or refused connections and timeouts are transient.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if starttls and ssl:
            raise ValueError("starttls and ssl exclude each other; set one")
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout

    def send(self, email: OutgoingEmail) -> None:
        with self.connect() as connection:
            connection.send(email)

    def connect(self) -> "SmtpConnection":
        return SmtpConnection(self)

    def _client(self) -> _Client | _SslClient:
        """A connection greeted, secured and logged in as the settings say."""
        smtp: _Client | _SslClient
        if self.ssl:
            smtp = _SslClient(
                self.host, self.port, timeout=self.timeout, context=create_default_context()
            )
        else:
            smtp = _Client(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=create_default_context())
            if self.user is not None:
                smtp.login(self.user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


class SmtpConnection:
    """One SMTP connection for the messages of a ``with`` block: opened by the first message,
    closed (QUIT) when the block ends.

    Threads may share it (a flow's tasks do); it sends one message at a time. When the server
    has dropped the connection since the last message (an idle timeout, a limit of messages per
    connection), the message goes out once more over a new connection; when the connection is
    lost once the message has reached DATA, it does not, since the server may have accepted it:
    that is a transient error like any lost connection.
    """

    def __init__(self, backend: SmtpBackend) -> None:
        self._backend = backend
        self._smtp: _Client | _SslClient | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def send(self, email: OutgoingEmail) -> None:
        _require_recipients(email)
        message = build_message(email)
        where = f"SMTP {self._backend.host}:{self._backend.port}"
        try:
            with self._lock:
                refused = self._send(message)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = exc.recipients  # {address: (code, reply)}
            text = "; ".join(
                f"{to}: {code} {_text(reply)}" for to, (code, reply) in replies.items()
            )
            permanent = all(code >= 500 for code, _ in replies.values())
            raise DeliveryError(
                f"{where}: recipients refused: {text}", permanent=permanent
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # Also sender refused, DATA refused, failed login, bad greeting.
            raise DeliveryError(
                f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise DeliveryError(f"{where}: connection lost: {exc}", permanent=False) from exc
        except smtplib.SMTPException as exc:
            # What is left is a mismatch a retry cannot fix, e.g. no STARTTLS or AUTH offered.
            raise DeliveryError(f"{where}: {exc}", permanent=True) from exc
        except OSError as exc:  # refused, reset, timed out, name not resolved, TLS handshake
            raise DeliveryError(f"{where}: {exc}", permanent=False) from exc
        if refused:
            # The message went to the others; raising would make a retry send it to them again.
            logger.warning("%s: %s: some recipients refused: %s", where, email.key, refused)

    def _send(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        reused = self._smtp is not None
        if self._smtp is None:
            self._smtp = self._backend._client()
        smtp = self._smtp
        smtp.content_started = False
        try:
            return smtp.send_message(message)
        except smtplib.SMTPException:
            if smtp.sock is not None:
                raise  # smtplib reset the transaction (RSET): the connection goes on
            self._smtp = None
            if not reused or smtp.content_started:
                raise
        except BaseException:
            self._drop()  # a connection left in a state we cannot know
            raise
        # Dropped before this message reached DATA: the server has not taken it. Once only,
        # since a new connection is not a reused one.
        logger.info(
            "SMTP %s:%s: the server closed the connection; reconnecting",
            self._backend.host,
            self._backend.port,
        )
        return self._send(message)

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            # Once the messages are sent a failing QUIT does not matter; before, the error that
            # matters is already on its way up.
            smtp.close()


class MemoryBackend:
    """Keeps the built messages in ``outbox``; a real backend for tests, not a mock."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []

    def connect(self) -> AbstractContextManager[MailSender]:
        return nullcontext(self)

    def send(self, email: OutgoingEmail) -> None:
        _require_recipients(email)
        self.outbox.append(build_message(email))


def backend_from_settings(settings: Settings) -> OutboxBackend | SmtpBackend:
    if settings.mail_backend == "smtp":
        password = settings.smtp_password
        return SmtpBackend(
            settings.smtp_host,
            settings.smtp_port,
            user=settings.smtp_user,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
            ssl=settings.smtp_ssl,
            timeout=settings.smtp_timeout,
        )
    return OutboxBackend(settings.resolved_outbox_dir)


def _require_recipients(email: OutgoingEmail) -> None:
    if not any(address.strip() for address in email.to):
        raise DeliveryError(f"{email.key}: no recipients", permanent=True)


def _safe_key(key: str) -> str:
    """``digest:12:2022-06-15`` -> ``digest-12-2022-06-15``: safe as a file name and in a
    Message-ID."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")


def _message_id(email: OutgoingEmail) -> str:
    # make_msgid() adds the time and a random number; a retry must carry the same Message-ID.
    # The hash keeps keys that differ only in punctuation apart.
    digest = hashlib.sha256(email.key.encode()).hexdigest()[:12]
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "duban.invalid"
    return f"<{_safe_key(email.key)}.{digest}@{domain}>"


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (or a crash) never sees half a file, and a retry replaces rather than duplicates.
    # Not tempfile.mkstemp: its files are private (0600) and the outbox is for people to read.
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temp.open("xb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
