"""Files units upload with a report: checked by size and by type, then kept under
``state_dir/uploads/<unit id>/<random>-<safe name>``.

A file is accepted when its name ends in an allowed extension AND its first bytes are what that
type starts with (a renamed program is refused). The size limit is ``upload_max_mb``. What is
refused is refused with a Chinese message that says what is allowed; the error is the
InputError every page shows.
"""

import io
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import UploadFile

from config.settings import Settings
from tracking.errors import InputError

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of .doc and .xls


def _zip_with(member: str) -> Callable[[bytes], bool]:
    def sniff(data: bytes) -> bool:
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:  # reads the directory only: nothing is unpacked
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return member in archive.namelist()
        except (zipfile.BadZipFile, ValueError):
            return False

    return sniff


def _plain_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return not any((ord(c) < 32 and c not in "\t\n\r\f") or c == "\x7f" for c in text)
    return False


SNIFFERS: dict[str, Callable[[bytes], bool]] = {
    ".pdf": lambda data: data.startswith(b"%PDF-"),
    ".doc": lambda data: data.startswith(OLE2),
    ".xls": lambda data: data.startswith(OLE2),
    ".docx": _zip_with("word/document.xml"),
    ".xlsx": _zip_with("xl/workbook.xml"),
    ".jpg": lambda data: data.startswith(b"\xff\xd8\xff"),
    ".jpeg": lambda data: data.startswith(b"\xff\xd8\xff"),
    ".png": lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    ".txt": _plain_text,
}
ATTACHMENTS = frozenset(SNIFFERS)
ATTACHMENTS_NOTE = "PDF、Word（doc、docx）、Excel（xls、xlsx）、图片（jpg、png）或文本（txt）文件"
SPREADSHEETS = frozenset({".xlsx", ".xls"})
SPREADSHEETS_NOTE = "Excel（xlsx、xls）文件"
NAME_MAX = 120  # characters kept of an uploaded file's name


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the upload folder: "<unit id>/<random>-<safe name>"
    name: str  # the name the unit gave it (without any folder)
    size: int


def uploads_dir(settings: Settings) -> Path:
    return settings.state_dir / "uploads"


def max_bytes(settings: Settings) -> int:
    return int(settings.upload_max_mb * 1024 * 1024)


def too_large(settings: Settings, size: int | None = None) -> InputError:
    limit = f"{settings.upload_max_mb:g}"
    found = f"（所选文件约{size / 1024 / 1024:.1f}MB）" if size else ""
    return InputError(f"附件不能超过{limit}MB{found}，请压缩或拆分后上传。")


async def read_upload(settings: Settings, upload: UploadFile) -> bytes:
    """The file's bytes, read no further than one byte past the limit."""
    limit = max_bytes(settings)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise too_large(settings, upload.size or len(data))
    return data


def check_upload(
    name: str, data: bytes, *, allowed: frozenset[str] = ATTACHMENTS, note: str = ATTACHMENTS_NOTE
) -> str:
    """The file's extension (lower case) when both its name and its content are of an allowed
    type; InputError otherwise."""
    extension = Path(display_name(name)).suffix.lower()
    refusal = f"不支持该类型的附件。请上传{note}。"
    if extension not in allowed:
        raise InputError(refusal)
    if not data:
        raise InputError("所选附件是空文件，请重新选择。")
    if not SNIFFERS[extension](data):
        raise InputError(f"附件内容与文件类型（{extension}）不符。请上传{note}。")
    return extension


def store_upload(
    settings: Settings,
    unit_id: int,
    name: str,
    data: bytes,
    *,
    allowed: frozenset[str] = ATTACHMENTS,
    note: str = ATTACHMENTS_NOTE,
) -> StoredFile:
    """Check the file and keep it; the caller records the returned path (or discards it)."""
    if len(data) > max_bytes(settings):
        raise too_large(settings, len(data))
    extension = check_upload(name, data, allowed=allowed, note=note)
    shown = display_name(name)
    relative = f"{unit_id}/{secrets.token_hex(8)}-{_safe_stem(shown)}{extension}"
    path = uploads_dir(settings) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:  # the random part makes a clash all but impossible
        handle.write(data)
    return StoredFile(path=relative, name=shown, size=len(data))


def discard(settings: Settings, stored: StoredFile | None) -> None:
    """Remove a stored file whose report was not recorded."""
    if stored is not None:
        (uploads_dir(settings) / stored.path).unlink(missing_ok=True)


def stored_path(settings: Settings, relative: str) -> Path | None:
    """The stored file for a recorded path; None when it is gone or lies outside the folder."""
    base = uploads_dir(settings).resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def display_name(name: str) -> str:
    """The name as uploaded, without any folder a browser sent along, control characters or
    surrounding spaces, at most NAME_MAX characters (keeping the extension)."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip() or "附件"
    if len(base) > NAME_MAX:
        suffix = Path(base).suffix[:10]
        base = base[: NAME_MAX - len(suffix)] + suffix
    return base


def _safe_stem(name: str) -> str:
    """A file-system-safe stem: letters (Chinese included), digits, ``-`` and ``_``."""
    stem = re.sub(r"[^\w\-]+", "_", Path(name).stem).strip("._") or "file"
    return stem[:60]
