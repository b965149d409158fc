"""``duban link``: a unit's web link, and revoking every link it was given."""

from typing import Annotated

import typer

from flows.cli.base import app, console, running
from flows.web.links import issue_link
from tracking.db import transaction
from tracking.items import find_unit
from tracking.links import revoke_unit_link


@app.command("link")
def link(
    unit: Annotated[str, typer.Argument(help="The unit (its name or an alias).")],
    revoke: Annotated[
        bool,
        typer.Option("--revoke", help="Stop every link the unit was given (e.g. one forwarded)."),
    ] = False,
    reason: Annotated[str, typer.Option(help="Why the links are revoked (with --revoke).")] = "",
    by: Annotated[str, typer.Option("--by", help="Who did it, for the history.")] = "cli",
) -> None:
    """Print the unit's web link (as its digests carry it); --revoke --reason first stops every
    link issued to the unit so far, and the link printed is the new one."""
    if revoke and not reason.strip():
        raise typer.BadParameter("say why the links are revoked", param_hint="--reason")
    with running() as duban:
        now = duban.now()
        with transaction(duban.engine) as session:
            target = find_unit(session, unit)
            if revoke:
                revoke_unit_link(session, target, now, by, reason)
            unit_id, name, version = target.id, target.name, target.link_version
        new = issue_link(duban.settings, unit_id=unit_id, link_version=version, now=now)  # type: ignore[arg-type]
        if revoke:
            console.print(
                f"{name}: every earlier link revoked (link version {version}); the next digest "
                "carries the new link:",
                markup=False,
            )
        console.print(new.url, markup=False, soft_wrap=True)
        console.print(f"valid through {new.expires_on} (link_valid_days)", markup=False)
