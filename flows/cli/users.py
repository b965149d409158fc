"""``duban user``: the coordinators' accounts for the web pages (``duban web``)."""

import sys
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.base import app, console, fail, running
from tracking.coordinators import (
    check_password,
    create_coordinator,
    list_coordinators,
    set_active,
    set_password,
)
from tracking.db import transaction
from tracking.errors import InputError

user_app = typer.Typer(help="Coordinators' accounts for the web pages.", no_args_is_help=True)
app.add_typer(user_app, name="user")

PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input instead of prompting.",
    ),
]


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user name to log in with.")],
    display_name: Annotated[str, typer.Option(help="The name the pages show, e.g. 王晓明.")] = "",
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Create a coordinator account; asks for the password twice (or reads --password-stdin)."""
    password = _new_password(password_stdin)
    with running() as duban, transaction(duban.engine) as session:
        create_coordinator(
            session,
            username=name,
            password=password,
            display_name=display_name,
            now=duban.now(),
            actor="cli",
        )
    console.print(f"Coordinator {name.strip()} created; they can log in to `duban web`.")


@user_app.command("list")
def user_list() -> None:
    """The accounts, active or disabled, with their last login."""
    with running(writes=False) as duban, transaction(duban.engine) as session:
        zone = duban.settings.zone
        rows = [
            (
                c.username,
                c.display_name or "—",
                "active" if c.active else "disabled",
                f"{c.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
                f"{c.last_login_at.astimezone(zone):%Y-%m-%d %H:%M}"
                if c.last_login_at
                else "never",
            )
            for c in list_coordinators(session)
        ]
    if not rows:
        console.print("No coordinator accounts yet; add one with `duban user add NAME`.")
        return
    table = Table("user", "display name", "state", "created", "last login")
    for row in rows:
        table.add_row(*row)
    console.print(table, markup=False)


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="The user name.")]) -> None:
    """Stop an account: it cannot log in, and an open session ends at its next click."""
    with running() as duban, transaction(duban.engine) as session:
        set_active(session, name, False, now=duban.now(), actor="cli")
    console.print(f"Coordinator {name.strip()} disabled.", markup=False)


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument(help="The user name.")]) -> None:
    """Let a disabled account log in again."""
    with running() as duban, transaction(duban.engine) as session:
        set_active(session, name, True, now=duban.now(), actor="cli")
    console.print(f"Coordinator {name.strip()} enabled.", markup=False)


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="The user name.")],
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Set a new password for an account (asks twice, or reads --password-stdin)."""
    password = _new_password(password_stdin)
    with running() as duban, transaction(duban.engine) as session:
        set_password(session, name, password, now=duban.now(), actor="cli")
    console.print(f"Password of {name.strip()} changed.", markup=False)


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except InputError as exc:
        fail(str(exc))
    return password
