"""A loopback SMTP server for W3, in a process of its own so that it does not share the GIL with
the sender being measured: aiosmtpd, as in tests/smtp_server.py, but it counts what it
receives instead of parsing it.

``python -m bench.smtp_sink`` prints its port, serves until its stdin closes, then prints the
messages and bytes it accepted. :class:`SmtpSink` runs it from the bench.
"""

import socket
import subprocess
import sys
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller

MAX_MESSAGE = 256 * 1024 * 1024


class _Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.bytes += len(envelope.content)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Serves on a socket bound in advance, so the port is known and cannot be taken meanwhile."""

    def __init__(self, handler: _Counter, sock: socket.socket) -> None:
        host, port = sock.getsockname()
        super().__init__(
            handler,
            hostname=host,
            port=port,
            server_hostname="loopback.bench",
            data_size_limit=MAX_MESSAGE,
        )
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class SmtpSink:
    """The sink in a child process: ``with SmtpSink() as sink: send to sink.host, sink.port``."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port = 0
        self.received: tuple[int, int] = (0, 0)  # messages, bytes; known once it has stopped
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        output, _ = self._process.communicate(timeout=60)
        messages, size = output.split()
        self.received = (int(messages), int(size))


def main() -> None:
    counter = _Counter()
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP. With it
    # on, the EHLO reply (several small writes) waits ~40 ms for a delayed ACK on every
    # connection, as it does with tests/smtp_server.py; a real MTA answers in one write.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    controller = _Controller(counter, sock)
    controller.start()
    print(sock.getsockname()[1], flush=True)
    sys.stdin.read()  # until the bench closes our stdin
    controller.stop()
    print(counter.messages, counter.bytes, flush=True)


if __name__ == "__main__":
    main()
