"""The secret that signs unit links and coordinator sessions."""

import os
import secrets
from functools import cache
from pathlib import Path

from config.settings import MIN_SECRET_KEY_LENGTH, ConfigError, Settings


def secret_key(settings: Settings) -> str:
    """``secret_key`` from the settings; else a random key created once in
    ``state_dir/secret.key`` (readable by its owner only) and kept for later starts, so that
    links already mailed keep working after a restart."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()  # its length is checked by the settings
    return _key_file(settings.secret_key_file.resolve())


@cache
def _key_file(path: Path) -> str:
    if not path.exists():
        _create(path)
    key = path.read_text("ascii").strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        # An empty or cut key would let anyone sign links: refuse it rather than use it.
        raise ConfigError(
            f"{path}: the secret key is shorter than {MIN_SECRET_KEY_LENGTH} characters; "
            "delete the file to have a new one made (links already sent stop working), or set "
            "DUBAN_SECRET_KEY"
        )
    return key


def _create(path: Path) -> None:
    """Write a new key so that it appears whole or not at all: written to a temporary file,
    then linked into place (a second process starting at the same moment keeps the first's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # fails if another process made the key first: theirs stands
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
