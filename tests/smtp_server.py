"""A real SMTP server on 127.0.0.1 for tests, run in a thread by aiosmtpd.

Usage::

    with LoopbackSMTP() as server:
        SmtpBackend(server.host, server.port).send(email)
        assert server.messages[0]["Subject"] == "..."

        server.refuse_with(451, "4.3.0 try later")  # every later DATA gets 451
        server.refuse_with(550, "5.1.1 no such user", at="RCPT")
        server.accept()  # back to accepting

        server.drop_after(3)  # the connection starting a 4th message is closed, once
        assert server.connections == 2

One server per test is cheap (a few milliseconds); the port is the OS's choice, so tests can run in
parallel.
"""

import asyncio
import socket
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller

Stage = Literal["RCPT", "DATA"]
DropAt = Literal["MAIL", "DATA"]


class _Handler:
    """aiosmtpd handler: records parsed messages, or replies with the refusal it was given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refusal: tuple[Stage, str] | None = None
        self.refused_addresses: dict[str, str] = {}
        self.connections = 0
        self.drop: tuple[int, DropAt, str] | None = None

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self._dropping("MAIL"):
            return self._close(server)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refusal is not None and self.refusal[0] == "RCPT":
            return self.refusal[1]
        if address in self.refused_addresses:
            return self.refused_addresses[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusal is not None and self.refusal[0] == "DATA":
            return self.refusal[1]
        self.messages.append(BytesParser(policy=default).parsebytes(envelope.content))
        if self._dropping("DATA"):
            # Taken, but the client never hears so: it cannot know the message arrived.
            return self._close(server)
        return "250 Message accepted for delivery"

    def _dropping(self, at: DropAt) -> bool:
        """Whether to drop the connection now, at ``at``; the drop happens once."""
        if self.drop is None or self.drop[1] != at:
            return False
        taken_before = len(self.messages) - (at == "DATA")  # at DATA, this one is in already
        return taken_before >= self.drop[0]

    def _close(self, server: Any) -> str:
        """Close the connection, after the drop's reply, or at once without a word."""
        assert self.drop is not None
        reply, self.drop = self.drop[2], None
        if reply:
            asyncio.get_running_loop().call_soon(server.transport.close)  # once it is written
            return reply
        server.transport.abort()
        return "451 never written: the connection is gone"


class _Controller(Controller):
    """Serves on a socket bound in advance, so the port is known and cannot be taken meanwhile."""

    def __init__(self, handler: _Handler, sock: socket.socket) -> None:
        host, port = sock.getsockname()
        super().__init__(handler, hostname=host, port=port, server_hostname="loopback.test")
        self._sock = sock
        self._counting = handler

    def factory(self) -> Any:
        self._counting.connections += 1  # called once per connection accepted
        return super().factory()

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class LoopbackSMTP:
    def __init__(self) -> None:
        self._handler = _Handler()
        self._controller: _Controller | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages received so far, parsed with ``email.policy.default``."""
        return self._handler.messages

    def refuse_with(self, code: int, text: str, *, at: Stage = "DATA") -> None:
        """Answer every later ``at`` command (RCPT or DATA) with ``code text``."""
        self._handler.refusal = (at, f"{code} {text}")

    def refuse_address(self, address: str, code: int, text: str) -> None:
        """Answer RCPT for ``address`` only with ``code text`` (a bounce for one mailbox)."""
        self._handler.refused_addresses[address] = f"{code} {text}"

    @property
    def connections(self) -> int:
        """The connections accepted so far."""
        return self._handler.connections

    def drop_after(self, accepted: int, *, at: DropAt = "MAIL", reply: str = "") -> None:
        """Once ``accepted`` messages have been accepted, close the connection, once: at the
        next MAIL (as a server does at its idle timeout or its limit of messages per
        connection), or at DATA once the next message is taken but before saying so. With
        ``reply`` (e.g. ``421 4.7.0 too many messages``) said first; else without a word."""
        self._handler.drop = (accepted, at, reply)

    def accept(self) -> None:
        self._handler.refusal = None
        self._handler.refused_addresses.clear()

    def __enter__(self) -> Self:
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every EHLO waits ~40 ms for delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        controller = _Controller(self._handler, sock)
        try:
            controller.start()
        except BaseException:
            # A failed start can leave the thread, the socket and the loop open; close them here
            # rather than leave them to the garbage collector's ResourceWarning.
            controller.stop(no_assert=True)
            sock.close()
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        self._handler.connections = 0  # start() made one of its own, to see the server answer
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
