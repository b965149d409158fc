"""A unit's web link: signed, expiring, revocable; and the form value that guards its page.

The link is ``<web base URL>/u/<token>``. The token signs ``{"u": unit id, "v": link version}``
with the kept secret (flows.web.keys) and the time it was issued. It works for
``link_valid_days`` after that, as long as the unit's ``link_version`` is still the one signed
in: ``duban link UNIT --revoke`` (tracking.links.revoke_unit_link) raises the version and so
stops every link the unit was given. Whoever holds the link acts for the unit, which is why the
digest asks the unit not to pass it on.

Time is an argument here, as everywhere: the issuing and the checking both pass ``now``.

This module imports no web framework: the chase (flows.delivery) issues links without FastAPI.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session

from config.settings import Settings
from flows.web.keys import secret_key
from tracking.models import Unit

LINK_SALT = "duban-unit-link"
FORM_SALT = "duban-unit-form"
FORM_VALID_SECONDS = 24 * 3600  # a page left open overnight can still be submitted

INVALID = "链接无效。请使用督办提醒邮件中的完整链接；如有疑问，请与督办工作人员联系。"
EXPIRED = "链接已过期。请使用最近一封督办提醒邮件中的链接，或与督办工作人员联系。"
REVOKED = "链接已停用。请使用最近一封督办提醒邮件中的链接，或与督办工作人员联系。"


class LinkRefused(Exception):
    """The link (or a form posted from its page) is not accepted. The message, in Chinese, is
    shown to the person who opened it and never says which unit a token named."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class UnitLink:
    url: str
    token: str
    expires_on: date  # the last whole day the link works, in the configured zone


@dataclass(frozen=True)
class LinkClaim:
    """What a genuine, unexpired token says: the unit and the link version it was issued at."""

    unit_id: int
    version: int


def issue_link(settings: Settings, *, unit_id: int, link_version: int, now: datetime) -> UnitLink:
    """The link a unit's digest carries, issued at ``now``."""
    token = _serializer(settings, LINK_SALT, now).dumps({"u": unit_id, "v": link_version})
    ends = now.astimezone(settings.zone) + timedelta(days=settings.link_valid_days)
    # It stops working during the day it ends, at the hour it was issued: promise the day before.
    return UnitLink(
        url=f"{settings.resolved_web_base_url}/u/{token}",
        token=token,
        expires_on=ends.date() - timedelta(days=1),
    )


def read_link(settings: Settings, token: str, *, now: datetime) -> LinkClaim:
    """The claim of a genuine token younger than ``link_valid_days``; else LinkRefused (403 for
    a token not ours or altered, 410 for one that has expired)."""
    serializer = _serializer(settings, LINK_SALT, now)
    try:
        payload = serializer.loads(token, max_age=settings.link_valid_days * 86400)
    except SignatureExpired:
        raise LinkRefused(EXPIRED, 410) from None
    except BadSignature:
        raise LinkRefused(INVALID, 403) from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("u"), int)
        or not isinstance(payload.get("v"), int)
    ):
        raise LinkRefused(INVALID, 403)
    return LinkClaim(unit_id=payload["u"], version=payload["v"])


def unit_of_link(session: Session, settings: Settings, token: str, *, now: datetime) -> Unit:
    """The unit a link acts for; LinkRefused when the link is not genuine, has expired, or was
    revoked (the unit's link version moved on)."""
    claim = read_link(settings, token, now=now)
    unit = session.get(Unit, claim.unit_id)
    if unit is None:  # a genuine token for a unit since deleted: as good as forged
        raise LinkRefused(INVALID, 403)
    if unit.link_version != claim.version:
        raise LinkRefused(REVOKED, 410)
    return unit


def form_token(settings: Settings, link_token: str, *, now: datetime) -> str:
    """The hidden value of the forms on a unit's page: signed, tied to this link, and dated, so
    that a form posted from another site (which cannot read the page) is refused."""
    return _signer(settings, now).sign(_fingerprint(link_token)).decode("ascii")


def check_form_token(settings: Settings, link_token: str, value: str, *, now: datetime) -> None:
    """LinkRefused (403) unless ``value`` is a form value issued for this link within
    FORM_VALID_SECONDS of ``now``."""
    try:
        signed = _signer(settings, now).unsign(value, max_age=FORM_VALID_SECONDS)
    except SignatureExpired:
        raise LinkRefused(
            "页面打开时间过长，请返回并刷新页面后重新提交（已填写的内容请先复制保存）。", 403
        ) from None
    except BadSignature:
        raise LinkRefused("提交未被接受：请从本单位的填报页面提交。", 403) from None
    if signed.decode("ascii") != _fingerprint(link_token):
        raise LinkRefused("提交未被接受：请从本单位的填报页面提交。", 403)


def _fingerprint(link_token: str) -> str:
    return hashlib.sha256(link_token.encode("ascii", "replace")).hexdigest()[:32]


def _signer_at(now: datetime) -> type[TimestampSigner]:
    """A TimestampSigner whose clock is ``now``: it stamps new values and ages old ones by it."""
    stamp = int(now.timestamp())

    class _At(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return _At


def _serializer(settings: Settings, salt: str, now: datetime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(settings), salt=salt, signer=_signer_at(now))


def _signer(settings: Settings, now: datetime) -> TimestampSigner:
    return _signer_at(now)(secret_key(settings), salt=FORM_SALT)
