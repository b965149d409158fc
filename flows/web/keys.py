"""The secret that signs unit links and coordinator sessions."""

import os
import secrets

from config.settings import Settings


def secret_key(settings: Settings) -> str:
    """``secret_key`` from the settings; else a random key created once in
    ``state_dir/secret.key`` (readable by its owner only) and kept for later starts, so that
    links already mailed keep working after a restart."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.secret_key_file
    if path.exists():
        return path.read_text("ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two processes start at once, one creates the key and the other reads it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text("ascii").strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
