"""A real SMTP server on 127.0.0.1 for tests, run in a thread by aiosmtpd.

Usage::

    with LoopbackSMTP() as server:
        SmtpBackend(server.host, server.port).send(email)
        assert server.messages[0]["Subject"] == "..."

        server.refuse_with(451, "4.3.0 try later")  # every later DATA gets 451
        server.refuse_with(550, "5.1.1 no such user", at="RCPT")
        server.accept()  # back to accepting

One server per test is cheap (a few milliseconds); the port is the OS's choice, so tests can run in
parallel.
"""

import socket
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller

Stage = Literal["RCPT", "DATA"]


class _Handler:
    """aiosmtpd handler: records parsed messages, or replies with the refusal it was given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refusal: tuple[Stage, str] | None = None
        self.refused_addresses: dict[str, str] = {}

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
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Serves on a socket bound in advance, so the port is known and cannot be taken meanwhile."""

    def __init__(self, handler: _Handler, sock: socket.socket) -> None:
        host, port = sock.getsockname()
        super().__init__(handler, hostname=host, port=port, server_hostname="loopback.test")
        self._sock = sock

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
