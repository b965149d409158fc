"""WebhookChannel against a real HTTP server on 127.0.0.1 that records requests and replies with
scripted responses (the real robots are outside this machine)."""

import base64
import hashlib
import hmac
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from http_server import LoopbackHTTP, Reply

from notifications.errors import DeliveryError
from notifications.webhook import Kind, WebhookChannel, WebhookMessage

NOW = 1655280000.123  # 2022-06-15 16:00:00.123 Asia/Shanghai
SECRET = "SECd0e1b2c3secretvalue"
TOKEN = "6f3a9c1e0b7d4a2f8e5c3b1a9d7f6e4c2b0a8f6d4c2e0a9b8c7d6e5f4a3b2c1d"
TITLE = "【督办提醒】请于2022年6月22日前报送2项建议提案落实进展"
TEXT = "市住房和城乡建设局：\n\n截至2022年6月15日，以下事项尚未报送落实进展：\n- 第12号建议"
OK = {
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success", "data": {}},
}
PATHS = {
    "wecom": f"/cgi-bin/webhook/send?key={TOKEN}",
    "dingtalk": f"/robot/send?access_token={TOKEN}",
    "feishu": f"/open-apis/bot/v2/hook/{TOKEN[:8]}-{TOKEN[8:12]}-{TOKEN[12:16]}-{TOKEN[16:28]}",
    "json": "/hooks/duban",
}


@pytest.fixture
def server() -> Iterator[LoopbackHTTP]:
    with LoopbackHTTP() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


def channel(
    server: LoopbackHTTP, kind: Kind, sleeps: list[float], **options: Any
) -> WebhookChannel:
    return WebhookChannel(
        server.url(PATHS[kind]), kind, clock=lambda: NOW, sleep=sleeps.append, **options
    )


def message(**overrides: Any) -> WebhookMessage:
    fields = {"title": TITLE, "text": TEXT, "key": "digest:12:2022-06-15"}
    return WebhookMessage(**(fields | overrides))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_secrets(text: str) -> None:
    assert SECRET not in text
    assert TOKEN not in text
    assert TOKEN[:8] not in text  # nor the Feishu hook id


# Payloads and signatures


def test_wecom_posts_markdown_in_utf8(server: LoopbackHTTP, sleeps: list[float]) -> None:
    server.reply(Reply(body=OK["wecom"]))

    channel(server, "wecom", sleeps).send(message())

    [request] = server.requests
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": [TOKEN]}
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.json == {"msgtype": "markdown", "markdown": {"content": f"**{TITLE}**\n{TEXT}"}}
    assert TITLE.encode("utf-8") in request.body  # raw UTF-8, not \u escapes
    assert "Idempotency-Key" not in request.headers


def test_dingtalk_signs_in_the_query_with_milliseconds(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(Reply(body=OK["dingtalk"]))

    channel(server, "dingtalk", sleeps, secret=SECRET).send(message())

    [request] = server.requests
    timestamp = "1655280000123"
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert request.query == {"access_token": [TOKEN], "timestamp": [timestamp], "sign": [expected]}
    # urlencoded once: base64's + / = arrive escaped, and decode back to the signature.
    assert not any(c in request.raw_query.partition("sign=")[2] for c in "+/=")
    assert request.json == {
        "msgtype": "markdown",
        "markdown": {"title": TITLE, "text": f"### {TITLE}\n\n{TEXT}"},
    }


def test_dingtalk_without_a_secret_adds_no_signature(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(Reply(body=OK["dingtalk"]))

    channel(server, "dingtalk", sleeps).send(message())

    assert server.requests[0].query == {"access_token": [TOKEN]}


def test_feishu_signs_in_the_body_with_seconds(server: LoopbackHTTP, sleeps: list[float]) -> None:
    server.reply(Reply(body=OK["feishu"]))

    channel(server, "feishu", sleeps, secret=SECRET).send(message())

    [request] = server.requests
    expected = base64.b64encode(
        hmac.new(f"1655280000\n{SECRET}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    assert request.json == {
        "timestamp": "1655280000",
        "sign": expected,
        "msg_type": "text",
        "content": {"text": f"{TITLE}\n\n{TEXT}"},
    }
    assert request.query == {}


def test_feishu_older_status_code_reply_is_success(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(Reply(body={"Extra": None, "StatusCode": 0, "StatusMessage": "success"}))

    channel(server, "feishu", sleeps).send(message())

    assert "sign" not in server.requests[0].json


def test_json_signs_the_exact_body_and_sends_the_key(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(Reply(status=204, body=b""))

    with requests.Session() as session:
        channel(server, "json", sleeps, secret=SECRET, session=session).send(message())

    [request] = server.requests
    assert request.json == {"key": "digest:12:2022-06-15", "title": TITLE, "text": TEXT}
    assert request.headers["Idempotency-Key"] == "digest:12:2022-06-15"
    assert request.headers["X-Duban-Timestamp"] == "1655280000"
    expected = hmac.new(SECRET.encode(), b"1655280000." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Duban-Signature"] == f"sha256={expected}"


def test_json_without_a_secret_is_unsigned(server: LoopbackHTTP, sleeps: list[float]) -> None:
    server.reply(Reply(status=202, body={"queued": True}))

    channel(server, "json", sleeps).send(message())

    headers = server.requests[0].headers
    assert "X-Duban-Signature" not in headers and "X-Duban-Timestamp" not in headers
    assert headers["Idempotency-Key"] == "digest:12:2022-06-15"


# Retries and error classes


def test_503_then_200_succeeds_on_the_second_attempt(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(Reply(status=503, body=b"busy"), Reply(body=OK["wecom"]))

    channel(server, "wecom", sleeps).send(message())

    assert len(server.requests) == 2
    assert sleeps == [0.5]


def test_400_is_permanent_without_retry(server: LoopbackHTTP, sleeps: list[float]) -> None:
    server.reply(Reply(status=400, body={"error": "bad body"}))

    with pytest.raises(DeliveryError) as caught:
        channel(server, "json", sleeps).send(message())

    assert caught.value.permanent
    assert "HTTP 400" in str(caught.value) and "bad body" in str(caught.value)
    assert "(1 attempt)" in str(caught.value)
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_timeouts_throttling_and_server_errors_are_transient(
    status: int, server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(*[Reply(status=status)] * 3)

    with pytest.raises(DeliveryError) as caught:
        channel(server, "json", sleeps).send(message())

    assert not caught.value.permanent
    assert f"HTTP {status}" in str(caught.value)
    assert "(3 attempts)" in str(caught.value)
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_dingtalk_send_too_fast_is_retried(server: LoopbackHTTP, sleeps: list[float]) -> None:
    too_fast = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    server.reply(Reply(body=too_fast), Reply(body=OK["dingtalk"]))

    channel(server, "dingtalk", sleeps, secret=SECRET).send(message())

    assert len(server.requests) == 2
    assert sleeps == [0.5]


def test_dingtalk_send_too_fast_throughout_is_transient(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    too_fast = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    server.reply(*[Reply(body=too_fast)] * 3)

    with pytest.raises(DeliveryError) as caught:
        channel(server, "dingtalk", sleeps, secret=SECRET).send(message())

    text = str(caught.value)
    assert not caught.value.permanent
    assert "errcode 130101: send too fast" in text
    assert "(3 attempts)" in text
    assert "digest:12:2022-06-15" in text
    assert "access_token=***" in text
    assert_no_secrets(text)
    assert len(server.requests) == 3


def test_dingtalk_refusal_is_permanent_and_hides_the_token(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    # A platform message that echoes the token must not carry it into our error text.
    refused = {"errcode": 310000, "errmsg": f"keywords not in content, token {TOKEN}"}
    server.reply(Reply(body=refused))

    with pytest.raises(DeliveryError) as caught:
        channel(server, "dingtalk", sleeps, secret=SECRET).send(message())

    text = str(caught.value)
    assert caught.value.permanent
    assert "errcode 310000: keywords not in content" in text
    assert "(1 attempt)" in text
    assert_no_secrets(text)
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("kind", "reply", "permanent"),
    [
        ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}, False),
        ("wecom", {"errcode": -1, "errmsg": "system busy"}, False),
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}, True),
        ("feishu", {"code": 11232, "msg": "frequency limited"}, False),
        ("feishu", {"code": 9499, "msg": "too many request"}, False),
        ("feishu", {"code": 9499, "msg": "Bad Request", "data": {}}, True),
        (
            "feishu",
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"},
            True,
        ),
        ("feishu", {"StatusCode": 19024, "StatusMessage": "Key Words Not Found"}, True),
    ],
)
def test_result_codes_in_a_200_reply(
    kind: Kind, reply: dict[str, Any], permanent: bool, server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(*[Reply(body=reply)] * 3)
    secret = None if kind == "wecom" else SECRET

    with pytest.raises(DeliveryError) as caught:
        channel(server, kind, sleeps, secret=secret, retries=1).send(message())

    code = reply.get("errcode", reply.get("code", reply.get("StatusCode")))
    assert caught.value.permanent is permanent
    assert f" {code}: " in str(caught.value)
    assert len(server.requests) == (1 if permanent else 2)
    assert_no_secrets(str(caught.value))


@pytest.mark.parametrize("body", [b"<html>login</html>", b"[]", json.dumps({"ok": True}).encode()])
def test_a_robot_reply_without_a_result_code_is_permanent(
    body: bytes, server: LoopbackHTTP, sleeps: list[float]
) -> None:
    server.reply(Reply(body=body))

    with pytest.raises(DeliveryError) as caught:
        channel(server, "dingtalk", sleeps).send(message())

    assert caught.value.permanent
    assert len(server.requests) == 1


def test_connection_refused_is_transient_after_retries(sleeps: list[float]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/robot/send?access_token={TOKEN}"
    webhook = WebhookChannel(url, "dingtalk", secret=SECRET, clock=lambda: NOW, sleep=sleeps.append)

    with pytest.raises(DeliveryError) as caught:
        webhook.send(message())

    text = str(caught.value)
    assert not caught.value.permanent
    assert "cannot connect" in text and "(3 attempts)" in text
    assert_no_secrets(text)
    assert "sign=***" in text or "sign=" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert sleeps == [0.5, 1.0]


def test_a_slow_reply_is_a_transient_timeout(server: LoopbackHTTP, sleeps: list[float]) -> None:
    server.reply(Reply(body=OK["feishu"], delay=0.5))

    with pytest.raises(DeliveryError) as caught:
        channel(server, "feishu", sleeps, secret=SECRET, timeout=0.1, retries=0).send(message())

    assert not caught.value.permanent
    assert "timed out" in str(caught.value) and "(1 attempt)" in str(caught.value)
    assert_no_secrets(str(caught.value))


def test_wecom_markdown_over_4096_bytes_is_refused_before_sending(
    server: LoopbackHTTP, sleeps: list[float]
) -> None:
    with pytest.raises(DeliveryError) as caught:
        channel(server, "wecom", sleeps).send(message(text="督办" * 700))

    assert caught.value.permanent
    assert "4096" in str(caught.value)
    assert server.requests == []


# Configuration


@pytest.mark.parametrize(
    ("url", "kind", "secret", "error"),
    [
        ("http://127.0.0.1/hook", "slack", None, "unknown webhook kind 'slack'"),
        (f"ftp://example.com/hook?key={TOKEN}", "json", None, "must be http(s)"),
        (
            f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}",
            "wecom",
            SECRET,
            "no signing",
        ),
    ],
    ids=["unknown-kind", "not-http", "wecom-secret"],
)
def test_misconfiguration_fails_at_construction(
    url: str, kind: Any, secret: str | None, error: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(error)) as caught:
        WebhookChannel(url, kind, secret=secret)

    assert_no_secrets(str(caught.value))


@pytest.mark.parametrize("key", ["", "督办:12", "digest:12\r\nX-Evil: 1"])
def test_message_key_must_fit_a_header(key: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        message(key=key)
