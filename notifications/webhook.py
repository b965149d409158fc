"""Webhook delivery: a group robot (WeCom, DingTalk, Feishu) or a plain signed JSON endpoint.

A :class:`WebhookChannel` has one method, ``send(message) -> None``, which raises
:class:`DeliveryError` (with ``permanent`` set) when the message did not go out, like the mail
backends. Transient failures are retried inside ``send`` a few times with exponential backoff; what
is still failing after that is left to the caller's retry.

Formats, signing and reply codes follow the platforms' pages; where a code is not on an official
page, the source is named:

- WeCom group robot, 群机器人配置说明 (https://developer.work.weixin.qq.com/document/path/91770):
  ``{"msgtype": "markdown", "markdown": {"content": ...}}``, content at most 4096 bytes of UTF-8;
  reply ``{"errcode": 0, "errmsg": "ok"}``; no signing, the ``key`` query parameter is the
  credential; at most 20 messages a minute per robot. -1 "system busy, retry later" (全局错误码,
  https://developer.work.weixin.qq.com/document/path/90455); 45009 "api freq out of limit" (as
  qyapi.weixin.qq.com replies, quoted in the WeCom developer community).
- DingTalk custom robot, 自定义机器人接入 / 安全设置 (https://open.dingtalk.com/document/robots/
  custom-robot-access, as quoted by several mirrors): ``{"msgtype": "markdown", "markdown":
  {"title", "text"}}`` (the title only shows in the chat list, so the text repeats it); 加签:
  ``timestamp`` in milliseconds, ``sign = urlencode(base64(HMAC-SHA256(key=secret,
  msg=f"{timestamp}\\n{secret}")))``, both as query parameters beside ``access_token``; reply
  ``{"errcode": 0}``. 130101 "send too fast, exceed 20 times per minute" (then throttled for 10
  minutes) and -1 "system busy" are transient; 310000 (keyword, sign or IP whitelist refused) and
  the rest permanent.
- Feishu custom bot, 自定义机器人使用指南 (https://open.feishu.cn/document/client-docs/bot-v3/
  add-custom-bot): ``{"msg_type": "text", "content": {"text": ...}}``; 签名校验: ``timestamp`` in
  seconds (a string in the body), ``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
  msg=b""))``, both in the body; reply ``{"code": 0, "msg": "success"}`` (older replies carry
  ``StatusCode`` / ``StatusMessage``). 11232 is the documented rate-limit code. 9499 is documented
  as "Bad Request" (malformed body, or over 20 KB): permanent; but throttled calls also come back as
  9499 "too many request" (kubesphere/notification-manager retries those), so only that wording is
  transient. 19021 sign, 19022 IP, 19024 keyword refused: permanent.
- ``json``: our own format for anything else: ``{"key", "title", "text"}`` with
  ``Idempotency-Key: <key>`` and, when a secret is set, ``X-Duban-Timestamp`` (seconds) and
  ``X-Duban-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` over the exact
  body bytes. Any 2xx is success.

Feishu gets a ``text`` message rather than a ``post``: Feishu renders Markdown in neither, ``text``
is the documented minimal format, and a keyword check (自定义关键词) sees the title, which leads the
text.

Error texts never carry the secret or the URL's token: query values and long path segments (the
Feishu hook id) are masked, and the request exceptions, whose text names the full URL, are raised
``from None`` after scrubbing so a logged traceback cannot leak them either.
"""

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import requests

from notifications.errors import DeliveryError

logger = logging.getLogger(__name__)

Kind = Literal["wecom", "dingtalk", "feishu", "json"]
KINDS: tuple[str, ...] = get_args(Kind)

# Reply codes (errcode / code in a 200 reply) that mean "slow down", worth another attempt.
RATE_LIMITED: dict[str, frozenset[int]] = {
    "wecom": frozenset({-1, 45009}),
    "dingtalk": frozenset({-1, 130101}),
    "feishu": frozenset({11232}),
}
FEISHU_OVERLOADED = 9499  # transient only when the message says "too many request(s)"
WECOM_MARKDOWN_LIMIT = 4096  # bytes of UTF-8
MESSAGE_EXCERPT = 300  # characters of a platform's reply kept in an error text


@dataclass(frozen=True)
class WebhookMessage:
    """One message, ready to send.

    ``key`` is the ledger's dedupe key (e.g. ``digest:12:2022-06-15``): it goes out as the
    ``Idempotency-Key`` header of the ``json`` kind and names the message in logs. It must be
    printable ASCII, as any HTTP header value.
    """

    title: str
    text: str
    key: str

    def __post_init__(self) -> None:
        if not self.key or not self.key.isascii() or not self.key.isprintable():
            raise ValueError(f"WebhookMessage.key must be printable ASCII: {self.key!r}")


class WebhookChannel:
    """Posts messages to one webhook ``url`` in the format of ``kind``.

    ``retries`` is how many more attempts a transient failure gets within one ``send``; the waits
    between them are ``backoff``, ``2 * backoff``, ``4 * backoff``... ``session`` is used as given
    and left open (the caller owns it); without one, each ``send`` opens and closes its own.
    ``clock`` (epoch seconds) stamps the signatures and ``sleep`` waits, both replaceable in tests.
    """

    def __init__(
        self,
        url: str,
        kind: Kind,
        *,
        secret: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown webhook kind {kind!r}; expected one of {', '.join(KINDS)}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Not the URL itself: it carries the token.
            raise ValueError(f"{kind} webhook URL must be http(s)://host/...; got {parts.scheme!r}")
        if kind == "wecom" and secret:
            raise ValueError("WeCom group robots have no signing; leave the webhook secret unset")
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("webhook retries and backoff must be >= 0, timeout > 0")
        self.url = url
        self.kind = kind
        self.secret = secret or None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = session
        self.clock = clock
        self.sleep = sleep
        self.where = f"{kind} webhook {_redacted(url)}"
        self._sensitive = _sensitive_parts(url, self.secret)

    def send(self, message: WebhookMessage) -> None:
        payload = self._payload(message)  # a permanent error before any request goes out
        if self.session is not None:
            self._send_with(self.session, message, payload)
            return
        with requests.Session() as session:
            self._send_with(session, message, payload)

    def _send_with(
        self, session: requests.Session, message: WebhookMessage, payload: dict[str, Any]
    ) -> None:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._attempt(session, message, payload)
                return
            except DeliveryError as exc:
                if exc.permanent or attempt == attempts:
                    noun = "attempt" if attempt == 1 else "attempts"
                    raise DeliveryError(
                        f"{self.where}: {message.key}: {exc} ({attempt} {noun})",
                        permanent=exc.permanent,
                    ) from None
                delay = self.backoff * 2 ** (attempt - 1)
                logger.warning(
                    "%s: %s: attempt %d of %d failed: %s; retrying in %.1fs",
                    self.where,
                    message.key,
                    attempt,
                    attempts,
                    exc,
                    delay,
                )
                self.sleep(delay)

    def _attempt(
        self, session: requests.Session, message: WebhookMessage, payload: dict[str, Any]
    ) -> None:
        url, body, headers = self._request(message, payload)
        try:
            response = session.post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout as exc:
            raise DeliveryError(f"timed out: {self._scrub(str(exc))}", permanent=False) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # Refused, reset, DNS, TLS handshake, a reply cut off.
            raise DeliveryError(
                f"cannot connect: {self._scrub(str(exc))}", permanent=False
            ) from None
        except requests.RequestException as exc:  # e.g. an invalid URL: no retry will fix it
            raise DeliveryError(self._scrub(str(exc)), permanent=True) from None
        self._check(response)

    def _payload(self, message: WebhookMessage) -> dict[str, Any]:
        if self.kind == "wecom":
            content = f"**{message.title}**\n{message.text}"
            size = len(content.encode())
            if size > WECOM_MARKDOWN_LIMIT:
                raise DeliveryError(
                    f"{self.where}: {message.key}: markdown is {size} bytes, WeCom takes at most "
                    f"{WECOM_MARKDOWN_LIMIT} (not sent)",
                    permanent=True,
                )
            return {"msgtype": "markdown", "markdown": {"content": content}}
        if self.kind == "dingtalk":
            text = f"### {message.title}\n\n{message.text}"
            return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}
        if self.kind == "feishu":
            return {"msg_type": "text", "content": {"text": f"{message.title}\n\n{message.text}"}}
        return {"key": message.key, "title": message.title, "text": message.text}

    def _request(
        self, message: WebhookMessage, payload: dict[str, Any]
    ) -> tuple[str, bytes, dict[str, str]]:
        """URL, body and headers of one attempt; signatures are fresh for each attempt."""
        url = self.url
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.kind == "dingtalk" and self.secret:
            timestamp = str(round(self.clock() * 1000))
            sign = quote_plus(_hmac_base64(self.secret, f"{timestamp}\n{self.secret}"))
            url = _add_query(url, f"timestamp={timestamp}&sign={sign}")
        elif self.kind == "feishu" and self.secret:
            timestamp = str(int(self.clock()))
            sign = _hmac_base64(f"{timestamp}\n{self.secret}", "")
            payload = {"timestamp": timestamp, "sign": sign, **payload}
        body = json.dumps(payload, ensure_ascii=False).encode()
        if self.kind == "json":
            headers["Idempotency-Key"] = message.key
            if self.secret:
                timestamp = str(int(self.clock()))
                digest = hmac.new(
                    self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                headers["X-Duban-Timestamp"] = timestamp
                headers["X-Duban-Signature"] = f"sha256={digest}"
        return url, body, headers

    def _check(self, response: requests.Response) -> None:
        status = response.status_code
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        if status in (408, 429) or status >= 500:
            raise DeliveryError(f"{reason}: {self._excerpt(response.text)}", permanent=False)
        if not 200 <= status < 300:  # other 4xx, or a redirect the webhook should not send
            raise DeliveryError(f"{reason}: {self._excerpt(response.text)}", permanent=True)
        if self.kind == "json":
            return
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            # A web page or a proxy's answer: the URL points at something that is not the robot.
            raise DeliveryError(
                f"{reason} but not a JSON reply: {self._excerpt(response.text)}", permanent=True
            )
        code, text = _reply_code(self.kind, reply)
        if code == 0:
            return
        if code is None:
            raise DeliveryError(
                f"{reason} without a result code: {self._excerpt(response.text)}", permanent=True
            )
        raise DeliveryError(
            f"{'code' if self.kind == 'feishu' else 'errcode'} {code}: {self._excerpt(text)}",
            permanent=not self._rate_limited(code, text),
        )

    def _rate_limited(self, code: int, text: str) -> bool:
        if code in RATE_LIMITED.get(self.kind, ()):
            return True
        return (
            self.kind == "feishu"
            and code == FEISHU_OVERLOADED
            and "too many request" in text.lower()
        )

    def _excerpt(self, text: str) -> str:
        text = " ".join(text.split())
        if len(text) > MESSAGE_EXCERPT:
            text = text[:MESSAGE_EXCERPT] + "…"
        return self._scrub(text) or "(empty reply)"

    def _scrub(self, text: str) -> str:
        """``text`` without the secret, the URL's token or a signature."""
        for value in self._sensitive:
            text = text.replace(value, "***")
        # requests names the full URL in its errors, signature parameters included.
        return _CREDENTIAL_PARAMETER.sub(r"\1=***", text)


def _reply_code(kind: str, reply: dict[str, Any]) -> tuple[int | None, str]:
    """The platform's result code and message from a 200 reply; code None when there is none."""
    if kind == "feishu":
        names = [("code", "msg"), ("StatusCode", "StatusMessage")]
    else:
        names = [("errcode", "errmsg")]
    for code_name, text_name in names:
        if code_name in reply:
            try:
                code = int(reply[code_name])
            except (TypeError, ValueError):
                return None, ""
            return code, str(reply.get(text_name) or "")
    return None, ""


def _hmac_base64(key: str, msg: str) -> str:
    digest = hmac.new(key.encode(), msg.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _add_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


_CREDENTIAL_PARAMETER = re.compile(
    r"(?i)\b(access_token|key|token|sign|timestamp|secret)=[^&\s'\")]+"
)

# A path segment this long is an id that works as a credential (the Feishu hook id is a UUID).
_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_-]{20,}")


def _redacted(url: str) -> str:
    """``url`` fit for an error text: no user info, every query value and long path segment
    masked. ``...send?access_token=abc`` -> ``...send?access_token=***``."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    path = "/".join(
        "***" if _TOKEN_SEGMENT.fullmatch(segment) else segment for segment in parts.path.split("/")
    )
    query = "&".join(f"{pair.partition('=')[0]}=***" for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _sensitive_parts(url: str, secret: str | None) -> tuple[str, ...]:
    """Strings that must not reach an error text: the secret, query values, token segments and
    user info, raw and percent-encoded, longest first so a part is never half-replaced."""
    parts = urlsplit(url)
    values = [pair.partition("=")[2] for pair in parts.query.split("&")]
    values += [s for s in parts.path.split("/") if _TOKEN_SEGMENT.fullmatch(s)]
    values += [parts.username or "", parts.password or ""]
    # Short query values ("v=2") are not credentials and would mask common words.
    values = [value for value in values if len(value) >= 4]
    if secret:
        values.append(secret)
    found = {v for value in values for v in (value, quote(value, safe=""))}
    return tuple(sorted(found, key=len, reverse=True))
