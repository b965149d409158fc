"""W6: the web pages on one size's database, in a process of its own (its memory is its own).

``python -m bench.web --state DIR`` opens the year W1 imported (with the units' contacts), logs a
coordinator in and times each page as the browser asks for it, through the real application
(FastAPI, the session and CSRF middleware, the templates) with Starlette's TestClient: the
handler's work, without a socket. Prints one JSON object; progress goes to stderr.

The unit page is timed beside a raw baseline (one SQL query for the unit's items and
``str.format`` of an HTML row per item, as W2's baseline does for a digest). The coordinator's
pages have no such floor: the dashboard and the item list summarise the whole year by design.
"""

import argparse
import html
import json
import re
import resource
import sqlite3
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from bench import workloads
from flows.web.app import create_web_app
from flows.web.links import issue_link
from tracking.coordinators import create_coordinator
from tracking.db import transaction
from tracking.models import FollowUpItem, Unit

USER, PASSWORD = "bench", "bench-password-1234"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
RUNS = 3

_UNIT_ITEMS = """
SELECT p.category, p.number, p.title, i.commitment, a.role, a.last_reported_on, i.id
FROM assignment a
JOIN followupitem i ON i.id = a.item_id
JOIN proposal p ON p.id = i.proposal_id
WHERE a.unit_id = ? AND a.status NOT IN ('returned', 'reassigned')
ORDER BY p.year, i.position, i.id
"""
_ROW = (
    "<tr><td>{category}第{number}号<br><strong>{title}</strong></td><td>{commitment}</td>"
    "<td>{role}</td><td>{last}</td><td><form method=post action=/u/t/items/{item}>"
    "<textarea name=text></textarea><button>提交</button></form></td></tr>\n"
)


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median_of(action: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """The median time of ``runs`` calls after one untimed warm-up call, and the last result."""
    result = action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def busiest_unit(db: Path) -> tuple[int, str, int]:
    """The unit with the most items (a city bureau that leads many): the heaviest unit page."""
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute(
            "SELECT u.id, u.name, count(*) FROM assignment a JOIN unit u ON u.id = a.unit_id "
            "GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1"
        ).fetchone()


def raw_unit_page(db: Path, unit_id: int) -> int:
    """The unit page's floor: its items from one query, one formatted row each."""
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(_UNIT_ITEMS, (unit_id,)).fetchall()
    body = "".join(
        _ROW.format(
            category=html.escape(category),
            number=html.escape(number),
            title=html.escape(title),
            commitment=html.escape(commitment),
            role="主办" if role == "lead" else "协办",
            last=last or "尚未报送",
            item=item,
        )
        for category, number, title, commitment, role, last, item in rows
    )
    return len(f"<html><body><table>{body}</table></body></html>".encode())


def test_client(app: Any, base_url: str) -> Any:
    # Starlette asks for httpx2 in a warning; its TestClient works the same with httpx.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    return TestClient(app, base_url=base_url)


def measure(state: Path) -> dict[str, Any]:
    app = workloads.make_app(state)
    now = app.now()
    unit_id, unit_name, assignments = busiest_unit(state / "duban.db")
    with transaction(app.engine) as session:
        create_coordinator(session, username=USER, password=PASSWORD, now=now, actor="bench")
        unit = session.get(Unit, unit_id)
        link = issue_link(app.settings, unit_id=unit_id, link_version=unit.link_version, now=now)  # type: ignore[union-attr]
        first_item = session.exec(select(func.min(FollowUpItem.id))).one()
    pages: dict[str, dict[str, Any]] = {}
    with test_client(create_web_app(app), app.settings.resolved_web_base_url) as client:

        def get(path: str) -> Callable[[], Any]:
            def action() -> Any:
                response = client.get(path)
                response.raise_for_status()
                return response

            return action

        def timed(name: str, path: str) -> None:
            seconds, response = median_of(get(path))
            pages[name] = {"seconds": seconds, "kb": len(response.content) / 1024}
            log(f"{name}: {seconds:.2f} s, {pages[name]['kb']:.0f} KB")

        timed("unit", f"/u/{link.token}")
        login_page = client.get("/login").text
        token = TOKEN.search(login_page).group(1)  # type: ignore[union-attr]
        form = {"username": USER, "password": PASSWORD, "csrf_token": token}
        if client.post("/login", data=form, follow_redirects=False).status_code != 303:
            raise RuntimeError("the bench's coordinator could not log in")
        timed("dashboard", "/")
        timed("items", "/items?status=open")
        timed("item", f"/items/{first_item}")
    raw_seconds, raw_bytes = median_of(lambda: raw_unit_page(state / "duban.db", unit_id))
    app.engine.dispose()
    return {
        "pages": pages,
        "unit": {"name": unit_name, "assignments": assignments},
        "raw_unit": {"seconds": raw_seconds, "kb": raw_bytes / 1024},
        "as_of": date.today().isoformat(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="a folder holding duban.db")
    args = parser.parse_args()
    print(json.dumps(measure(args.state)))


if __name__ == "__main__":
    main()
