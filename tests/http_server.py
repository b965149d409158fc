"""A recording HTTP server on 127.0.0.1 for tests: it stands in for the group robots (WeCom,
DingTalk, Feishu), which are outside this machine. ``reply(...)`` scripts the next responses."""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON, bytes -> as is
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after a test

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        self.server.requests.append(
            Recorded(
                path=parts.path,
                query=parse_qs(parts.query),
                raw_query=parts.query,
                headers=dict(self.headers.items()),
                body=self.rfile.read(length),
            )
        )
        reply = self.server.script.pop(0) if self.server.script else Reply(body={})
        if reply.delay:
            time.sleep(reply.delay)
        data = (
            reply.body
            if isinstance(reply.body, bytes)
            else json.dumps(reply.body or {}, ensure_ascii=False).encode()
        )
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Recorded] = []
        self.script: list[Reply] = []


class LoopbackHTTP:
    """A recording HTTP server in a thread; ``reply(...)`` queues the next responses."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    @property
    def requests(self) -> list[Recorded]:
        return self._server.requests

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def reply(self, *replies: Reply) -> None:
        self._server.script.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
