"""How names are compared: without white space, since tables pad short names (边 恕) to align."""

import re

_WHITESPACE = re.compile(r"[\s\u3000]+")
_UNIT_SEPARATORS = re.compile(r"[\s\u3000、，,;；]+")


def squeeze(text: str) -> str:
    """``text`` without any white space."""
    return _WHITESPACE.sub("", text)


def split_units(cell: str) -> tuple[str, ...]:
    """Co-handling units as tables write them: separated by spaces or 、，,;；."""
    return tuple(part for part in _UNIT_SEPARATORS.split(cell) if part)
