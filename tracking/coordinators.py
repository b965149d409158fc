"""Coordinator accounts: the people who log in to the web pages. Create, list, disable, set a
password, check one at login, and end its sessions.

Each web session keeps the account's ``session_epoch`` from its login and is good only while the
account still has it: a new password, disabling the account and logging out raise it, which ends
every session made before (on every browser), whatever the browser keeps.

Passwords are hashed with argon2id (argon2-cffi's defaults); only the hash is stored. Checking a
login costs one hash whether or not the account exists, so the time taken does not tell.
"""

from contextlib import suppress
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from tracking.audit import record_event
from tracking.errors import ConflictError, InputError, NotFoundError
from tracking.models import Coordinator

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte on every try would be a cheap way to load us
USERNAME_MAX_LENGTH = 64

HASHER = PasswordHasher()
"""argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile): about 0.4 s a hash on
a small server, which is also what each guess costs."""
_dummy_hashes: dict[tuple[int, int, int], str] = {}


def create_coordinator(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str = "",
    now: datetime,
    actor: str,
    hasher: PasswordHasher | None = None,
) -> Coordinator:
    """A new, active account; InputError for a bad name or password, ConflictError if taken."""
    hasher = hasher or HASHER
    username = check_username(username)
    check_password(password)
    if _by_username(session, username) is not None:
        raise ConflictError(f"a coordinator named {username!r} already exists")
    coordinator = Coordinator(
        username=username,
        display_name=display_name.strip()[:64],
        password_hash=hasher.hash(password),
        created_at=now,
    )
    session.add(coordinator)
    session.flush()
    record_event(
        session,
        at=now,
        actor=actor,
        action="coordinator.create",
        entity="coordinator",
        entity_id=coordinator.id,
        after={"username": username, "display_name": coordinator.display_name},
    )
    return coordinator


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    actor: str,
    hasher: PasswordHasher | None = None,
) -> Coordinator:
    """Replace the account's password (the old one stops working at once, and so does every
    session)."""
    hasher = hasher or HASHER
    coordinator = get_coordinator(session, username)
    check_password(password)
    coordinator.password_hash = hasher.hash(password)
    coordinator.session_epoch += 1
    session.add(coordinator)
    record_event(
        session,
        at=now,
        actor=actor,
        action="coordinator.password",
        entity="coordinator",
        entity_id=coordinator.id,
    )
    return coordinator


def set_active(
    session: Session, username: str, active: bool, *, now: datetime, actor: str
) -> Coordinator:
    """Disable an account (its sessions end, for good) or enable it again."""
    coordinator = get_coordinator(session, username)
    if coordinator.active == active:
        return coordinator
    coordinator.active = active
    if not active:
        coordinator.session_epoch += 1
    session.add(coordinator)
    record_event(
        session,
        at=now,
        actor=actor,
        action="coordinator.enable" if active else "coordinator.disable",
        entity="coordinator",
        entity_id=coordinator.id,
        before={"active": not active},
        after={"active": active},
    )
    return coordinator


def end_sessions(session: Session, coordinator_id: int) -> None:
    """End every session of the account (logging out): the sessions' epoch is no longer its.
    Nothing happens for an account that does not exist."""
    coordinator = session.get(Coordinator, coordinator_id)
    if coordinator is not None:
        coordinator.session_epoch += 1
        session.add(coordinator)


def list_coordinators(session: Session) -> list[Coordinator]:
    return list(session.exec(select(Coordinator).order_by(Coordinator.username)))


def get_coordinator(session: Session, username: str) -> Coordinator:
    coordinator = _by_username(session, username.strip())
    if coordinator is None:
        raise NotFoundError(f"no coordinator named {username.strip()!r}; see `duban user list`")
    return coordinator


def verify_login(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    hasher: PasswordHasher | None = None,
) -> Coordinator | None:
    """The active account ``username`` if ``password`` is its password, else None.

    An unknown name, a disabled account and a wrong password look alike to the caller and take
    about as long. A hash made with weaker parameters than today's is replaced on success.
    """
    hasher = hasher or HASHER
    coordinator = _by_username(session, username.strip())
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    if coordinator is None:
        _spend_one_hash(password, hasher)
        return None
    try:
        hasher.verify(coordinator.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if not coordinator.active:
        return None
    if hasher.check_needs_rehash(coordinator.password_hash):
        coordinator.password_hash = hasher.hash(password)
    coordinator.last_login_at = now
    session.add(coordinator)
    return coordinator


def check_username(username: str) -> str:
    """The name as stored: stripped; one word of at most 64 characters."""
    name = username.strip()
    if not name:
        raise InputError("the user name is empty")
    if len(name) > USERNAME_MAX_LENGTH:
        raise InputError(f"the user name is longer than {USERNAME_MAX_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InputError("the user name must be one word, without spaces")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise InputError("the password is only spaces")


def _by_username(session: Session, username: str) -> Coordinator | None:
    return session.exec(select(Coordinator).where(Coordinator.username == username)).first()


def _spend_one_hash(password: str, hasher: PasswordHasher) -> None:
    """Verify against a hash of nothing in particular, made with the same parameters, to take
    the time a real check takes."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash("no such account")
    with suppress(VerificationError, InvalidHashError):
        hasher.verify(_dummy_hashes[key], password)
