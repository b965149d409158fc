"""Jinja2 for the pages: the shipped templates, overridable file by file from
``templates_dir/web``; everything a user typed is escaped (autoescape is on for .html)."""

from pathlib import Path

import jinja2
from fastapi.templating import Jinja2Templates

from config.settings import Settings
from notifications.render import cn_date

SHIPPED = Path(__file__).resolve().parent / "templates"


def page_templates(settings: Settings) -> Jinja2Templates:
    folders = [SHIPPED]
    if settings.templates_dir is not None and (settings.templates_dir / "web").is_dir():
        folders.insert(0, settings.templates_dir / "web")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in folders]),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cn_date"] = cn_date
    return Jinja2Templates(env=environment)
