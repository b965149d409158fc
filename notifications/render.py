"""Render an email kind from its three templates: ``<kind>-subject.txt``, ``<kind>-body.txt`` and
``<kind>-body.html``.

The shipped templates live in ``notifications/templates``. A folder of overrides (the
``templates_dir`` setting) is searched first, file by file, so a deployment can replace just the
subject and keep the shipped bodies.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2

from notifications.errors import TemplateError


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class EmailRenderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            # A mistyped folder would otherwise be skipped silently and the shipped text sent.
            if not override_dir.is_dir():
                raise TemplateError(f"template folder does not exist: {override_dir}")
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders.append(jinja2.PackageLoader("notifications", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["cn_date"] = cn_date

    def render(self, kind: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Render the three parts of ``kind``; a missing file or key raises TemplateError."""
        subject = self._render_file(f"{kind}-subject.txt", context)
        return RenderedEmail(
            # A subject is one header line, whatever the template's line breaks.
            subject=" ".join(subject.split()),
            text=self._render_file(f"{kind}-body.txt", context),
            html=self._render_file(f"{kind}-body.html", context),
        )

    def _render_file(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"{name}: template not found") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{name}: line {exc.lineno}: {exc.message}") from exc
        except (jinja2.TemplateError, AttributeError, TypeError, ValueError) as exc:
            # UndefinedError (a missing key) and filter failures do not say which file failed.
            raise TemplateError(f"{name}: {exc}") from exc


def cn_date(value: date | None) -> str:
    """``date(2022, 6, 15)`` -> ``2022年6月15日``; None (no date recorded) -> ``—``."""
    if value is None:
        return "—"
    # No isinstance check: a StrictUndefined must raise its own error, which names the missing key.
    return f"{value.year}年{value.month}月{value.day}日"
