"""The ``duban`` command line driven in-process by typer's CliRunner, for tests."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from flows.cli import app

Duban = Callable[..., Result]


def clear_duban_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("DUBAN_")]:
        monkeypatch.delenv(name)
    # They would make rich take the output for a terminal (`duban list` prints a table there).
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    # Wide enough that rich never wraps a table cell or a message with a long temporary path.
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(tmp_path)  # no ./duban.toml


def runner() -> Duban:
    runner = CliRunner()

    def duban(*args: str) -> Result:
        result = runner.invoke(app, list(args))
        # A user-facing failure is an exit code and a message, never a traceback.
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return duban
