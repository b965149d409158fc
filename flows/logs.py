"""Logging for ``duban run``: everything to files, one line per job on the console.

- ``<state_dir>/logs/duban.log``: duban's and APScheduler's records, with tracebacks.
- ``<state_dir>/logs/prefect.log``: Prefect's records (flow and task runs, its temporary
  server), through a logging configuration handed to Prefect before it is imported.
- the console: the service's own lines (leading, standby, each job's one-line outcome).
"""

import json
import logging
import logging.handlers
import os
import sys
from datetime import datetime
from pathlib import Path

from config.settings import Settings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
CONSOLE_LOGGERS = ("duban.service", "duban.jobs")


def configure_service_logging(settings: Settings) -> Path:
    """Set up the files and the console; returns the folder of the log files."""
    folder = settings.log_dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.WatchedFileHandler(folder / "duban.log", encoding="utf-8")
    file_handler.setFormatter(_LocalFormatter(FORMAT, None, settings))
    root = logging.getLogger()
    root.handlers[:] = [file_handler]
    root.setLevel(logging.INFO)
    # Every request to a Prefect server is an INFO record of httpx: keep the log readable.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(_LocalFormatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M", settings))
    for name in CONSOLE_LOGGERS:
        logging.getLogger(name).addHandler(console)  # and on to the file through the root

    prefect_config = folder / "prefect-logging.json"
    prefect_config.write_text(json.dumps(_prefect_logging(folder / "prefect.log")), "utf-8")
    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(prefect_config))
    return folder


class _LocalFormatter(logging.Formatter):
    """Times in duban's zone (Beijing time by default), whatever the machine's zone is."""

    def __init__(self, fmt: str, datefmt: str | None, settings: Settings) -> None:
        super().__init__(fmt, datefmt)
        self.zone = settings.zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        return moment.strftime(datefmt or "%Y-%m-%d %H:%M:%S%z")


def _prefect_logging(path: Path) -> dict[str, object]:
    """Prefect's own logging configuration (JSON is YAML), with its console handler replaced by a
    file. The root logger is left to duban."""
    handler = {
        "level": 0,
        "class": "logging.handlers.WatchedFileHandler",
        "filename": str(path),
        "encoding": "utf-8",
        "formatter": "standard",
    }
    quiet = {"level": "WARNING", "handlers": ["file"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"standard": {"format": FORMAT}},
        "handlers": {
            "file": handler,
            "api": {"level": 0, "class": "prefect.logging.handlers.APILogHandler"},
        },
        "loggers": {
            "prefect": {"level": "INFO", "handlers": ["file"], "propagate": False},
            "prefect.flow_runs": {"level": "NOTSET", "handlers": ["api"]},
            "prefect.task_runs": {"level": "NOTSET", "handlers": ["api"]},
            "prefect.server": quiet,
            "prefect._internal": quiet,
            "uvicorn": quiet,
            "fastapi": quiet,
        },
    }
