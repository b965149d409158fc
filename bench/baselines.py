"""The raw baselines: each workload's work done with the standard library (and openpyxl), with
no validation, no ORM and no audit beyond the rows duban writes, as a floor to compare against.

- import: csv and sqlite3 ``executemany`` into plain tables shaped like duban's, with the same
  indexes and one audit row per created record, in one transaction;
- drafting: per unit, one SQL query and ``str.format`` for the text and HTML, the unit's return
  sheet as an openpyxl write-only workbook of the same rows, then the message and its
  reminder-log rows written in one transaction per unit (as duban does);
- sending: ``smtplib`` on one reused connection, the messages built with ``email.message`` with
  the sheet attached;
- compiling: one SQL query and an openpyxl write-only workbook.
"""

import csv
import html
import json
import smtplib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import formatdate
from pathlib import Path

from openpyxl import Workbook

from bench.synth import HEADER
from tracking.unit_sheet import HEADERS as SHEET_HEADERS
from tracking.unit_sheet import SHEET_NAME

_POLICY = default.clone(cte_type="7bit")
# The fields of the audit rows, as duban's import snapshots them.
_PROPOSAL = (
    "year",
    "category",
    "number",
    "lead_representative",
    "signer_count",
    "title",
    "handling_type",
)
_ITEM = ("proposal_id", "ordinal", "commitment", "position")
_ROLE = ("item_id", "unit_id", "role")
_UTC_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

IMPORT_SCHEMA = """
CREATE TABLE proposal (id INTEGER PRIMARY KEY, year INTEGER NOT NULL, category TEXT NOT NULL,
    number TEXT NOT NULL, lead_representative TEXT NOT NULL, signer_count INTEGER,
    title TEXT NOT NULL, handling_type TEXT NOT NULL, UNIQUE (year, category, number));
CREATE INDEX ix_proposal_year ON proposal (year);
CREATE TABLE unit (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE followupitem (id INTEGER PRIMARY KEY, proposal_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL, position INTEGER NOT NULL, commitment TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (proposal_id, ordinal));
CREATE INDEX ix_item_proposal ON followupitem (proposal_id);
CREATE INDEX ix_item_status ON followupitem (status);
CREATE TABLE assignment (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL,
    unit_id INTEGER NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL,
    UNIQUE (item_id, unit_id));
CREATE INDEX ix_assignment_item ON assignment (item_id);
CREATE INDEX ix_assignment_unit ON assignment (unit_id);
CREATE TABLE event (id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, entity TEXT NOT NULL, entity_id INTEGER, after TEXT);
CREATE INDEX ix_event_at ON event (at);
"""


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection set up as duban sets up its own: WAL, explicit transactions."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        yield connection
    finally:
        connection.close()


def create_import_schema(path: Path) -> None:
    with connect(path) as connection:
        connection.executescript(IMPORT_SCHEMA)


def read_rows(table: Path) -> list[list[str]]:
    """The data rows of a published table: past the header, no blank or separator rows, with
    编号 and 领衔代表 put back where they belong."""
    with table.open(encoding="utf-8", newline="") as stream:
        records = [[cell.strip() for cell in row] for row in csv.reader(stream, delimiter="\t")]
    start = next(n for n, row in enumerate(records) if row[:1] == [HEADER[0]]) + 1
    rows = []
    for row in records[start:]:
        if not any(row) or all(set(cell) <= {"-"} for cell in row):
            continue
        if not any(ch.isdigit() for ch in row[2]):
            row[2], row[3] = row[3], row[2]
        rows.append(row)
    return rows


def import_raw(table: Path, db: Path, *, year: int, now: datetime) -> int:
    """W1's floor: the rows duban writes for a table without feedback. Returns the items."""
    at = now.astimezone(UTC).strftime(_UTC_FORMAT)
    units: dict[str, int] = {}
    proposals: dict[tuple[str, str], int] = {}
    ordinals: dict[int, int] = {}
    proposal_rows, item_rows, assignment_rows, events = [], [], [], []

    def event(entity: str, entity_id: int, fields: tuple[str, ...], values: tuple) -> None:
        after = json.dumps(dict(zip(fields, values, strict=True)))
        events.append((at, "import", f"{entity}.create", entity, entity_id, after))

    def unit_id(name: str) -> int:
        if name not in units:
            units[name] = len(units) + 1
            event("unit", units[name], ("name",), (name,))
        return units[name]

    for seq, category, number, person, signers, title, kind, lead, co, commitment, _ in read_rows(
        table
    ):
        key = (category, number)
        if key not in proposals:
            proposals[key] = len(proposals) + 1
            proposal = (year, *key, person, int(signers), title, kind)
            proposal_rows.append((proposals[key], *proposal))
            event("proposal", proposals[key], _PROPOSAL, proposal)
        proposal_id = proposals[key]
        ordinals[proposal_id] = ordinals.get(proposal_id, 0) + 1
        item_id = len(item_rows) + 1
        item = (proposal_id, ordinals[proposal_id], commitment, int(seq))
        item_rows.append((item_id, *item, at))
        event("followupitem", item_id, _ITEM, item)
        for name, role in [*((name, "co") for name in co.split()), (lead, "lead")]:
            assignment = (item_id, unit_id(name), role)
            assignment_rows.append((len(assignment_rows) + 1, *assignment))
            event("assignment", len(assignment_rows), _ROLE, assignment)

    with connect(db) as connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO unit VALUES (?, ?)", [(i, n) for n, i in units.items()])
        connection.executemany(
            "INSERT INTO proposal VALUES (?, ?, ?, ?, ?, ?, ?, ?)", proposal_rows
        )
        connection.executemany(
            "INSERT INTO followupitem (id, proposal_id, ordinal, commitment, position, created_at,"
            " status) VALUES (?, ?, ?, ?, ?, ?, 'following')",
            item_rows,
        )
        connection.executemany(
            "INSERT INTO assignment VALUES (?, ?, ?, ?, 'handling')", assignment_rows
        )
        connection.executemany(
            "INSERT INTO event (at, actor, action, entity, entity_id, after) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )
        connection.execute("COMMIT")
    return len(item_rows)


_UNIT_ITEMS = """
SELECT a.id, a.role, i.id, i.commitment, p.category, p.number, p.title, p.lead_representative,
    (SELECT u.name FROM assignment l JOIN unit u ON u.id = l.unit_id
        WHERE l.item_id = i.id AND l.role = 'lead'),
    (SELECT group_concat(u.name, '、') FROM assignment c JOIN unit u ON u.id = c.unit_id
        WHERE c.item_id = i.id AND c.role = 'co'),
    a.last_reported_on
FROM assignment a
JOIN followupitem i ON i.id = a.item_id
JOIN proposal p ON p.id = i.proposal_id
WHERE a.unit_id = ? AND i.status != 'resolved' AND a.status NOT IN ('returned', 'closed')
ORDER BY p.year, i.position, i.id, a.id
"""
_ENTRY_TEXT = (
    "{n}. {category}第{number}号：{title}\n   领衔代表：{person}\n   跟踪落实事项：{commitment}\n"
    "   承办方式：{role}（主办单位：{lead}；协办单位：{co}）\n   需办理：报送落实进展\n"
    "   办理时限：{due}（已逾期{late}天）\n   上次报送：{last}\n   事项编号：{item}\n\n"
)
_ENTRY_HTML = (
    "<tr><td>{n}</td><td>{category}第{number}号<br><strong>{title}</strong><br>领衔代表：{person}"
    "<br>事项编号：{item}</td><td>{commitment}</td><td><strong>{role}</strong><br>主办单位：{lead}"
    "<br>协办单位：{co}</td><td>报送落实进展</td><td>{due}<br>已逾期{late}天</td><td>{last}</td></tr>\n"
)
_BODY_TEXT = (
    "{unit}：\n\n截至{as_of}，贵单位承办的以下{count}项事项需要办理或报送：\n\n"
    "{entries}特此提醒。\n"
)
_BODY_HTML = (
    "<!DOCTYPE html><html><body><p>{unit}：</p><p>截至{as_of}，贵单位承办的以下{count}项事项"
    "需要办理或报送：</p><table>{entries}</table><p>特此提醒。</p></body></html>"
)


def draft_raw(db: Path, *, as_of: date, now: datetime, interval_days: int = 30) -> int:
    """W2's floor: each unit's digest from one query, formatted, written with its log rows.

    Every open assignment owes a progress report ``interval_days`` after its last report (or
    the start of the year), on the calendar, without working days. Returns the digests."""
    created = now.astimezone(UTC).strftime(_UTC_FORMAT)
    written = 0
    with connect(db) as connection:
        units = connection.execute("SELECT id, name, emails FROM unit ORDER BY name").fetchall()
        for unit_id, unit_name, emails in units:
            rows = connection.execute(_UNIT_ITEMS, (unit_id,)).fetchall()
            if not rows:
                continue
            texts, htmls, logs, sheet_rows = [], [], [], []
            for n, (assignment, role, item, commitment, *proposal, lead, co, last) in enumerate(
                rows, start=1
            ):
                start = date.fromisoformat(last) if last else date(as_of.year, 1, 1)
                due = start + timedelta(days=interval_days)
                fields = {
                    "n": n,
                    "category": proposal[0],
                    "number": proposal[1],
                    "title": proposal[2],
                    "person": proposal[3],
                    "commitment": commitment,
                    "role": "主办" if role == "lead" else "协办",
                    "lead": lead,
                    "co": co or "无",
                    "due": due,
                    "late": (as_of - due).days,
                    "last": last or "尚未报送",
                    "item": item,
                }
                texts.append(_ENTRY_TEXT.format(**fields))
                htmls.append(_ENTRY_HTML.format(**{k: _escape(v) for k, v in fields.items()}))
                logs.append((as_of.isoformat(), assignment, unit_id, item, due.isoformat(), "sent"))
                sheet_rows.append(
                    (
                        n,
                        *proposal[:3],
                        commitment,
                        fields["role"],
                        "报送落实进展",
                        due,
                        None,
                        None,
                        item,
                    )
                )
            sheet = _write_sheet(db.parent / "sheets" / f"{unit_id}-{as_of}.xlsx", sheet_rows)
            envelope = {"unit": unit_name, "as_of": as_of, "count": len(rows)}
            connection.execute("BEGIN IMMEDIATE")
            cursor = connection.execute(
                "INSERT INTO notification (unit_id, channel, kind, dedupe_key, recipients, subject,"
                " body_text, body_html, attachments, audience, status, attempts, permanent_failure,"
                " last_error, created_at) VALUES (?, 'email', 'digest', ?, ?, ?, ?, ?, ?,"
                " 'liaison', 'pending', 0, 0, '', ?)",
                (
                    unit_id,
                    f"digest:{unit_id}:{as_of}",
                    emails,
                    f"【督办提醒】{len(rows)}项建议提案事项待办理",
                    _BODY_TEXT.format(**envelope, entries="".join(texts)),
                    _BODY_HTML.format(**envelope, entries="".join(htmls)),
                    json.dumps([str(sheet)]),
                    created,
                ),
            )
            connection.executemany(
                "INSERT INTO reminderlog (run_on, assignment_id, unit_id, item_id, obligation, due,"
                " stage, audience, decision, rule, notification_id, created_at) VALUES"
                " (?, ?, ?, ?, 'progress', ?, 'overdue', 'liaison', ?, 'ladder', ?, ?)",
                [(*log, cursor.lastrowid, created) for log in logs],
            )
            connection.execute("COMMIT")
            written += 1
    return written


def _write_sheet(path: Path, rows: list[tuple]) -> Path:
    """The unit's return sheet: the same rows and columns as duban's, write-only, unstyled."""
    path.parent.mkdir(exist_ok=True)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    sheet.append([f"{SHEET_NAME}"])
    sheet.append(list(SHEET_HEADERS))
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def _escape(value: object) -> object:
    return html.escape(value) if isinstance(value, str) else value


def send_raw(db: Path, host: str, port: int, *, sender: str, limit: int | None = None) -> int:
    """W3's floor: the pending messages, built with email.message, over one SMTP connection."""
    with connect(db) as connection:
        pending = connection.execute(
            "SELECT id FROM notification WHERE status = 'pending' AND channel = 'email' "
            "ORDER BY id LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
        sent = 0
        with smtplib.SMTP(host, port) as smtp:
            for (notification_id,) in pending:
                to, subject, text, body_html, key, attachments = connection.execute(
                    "SELECT recipients, subject, body_text, body_html, dedupe_key, attachments "
                    "FROM notification WHERE id = ?",
                    (notification_id,),
                ).fetchone()
                message = EmailMessage(policy=_POLICY)
                message["From"] = sender
                message["To"] = ", ".join(json.loads(to))
                message["Subject"] = subject
                message["Date"] = formatdate(localtime=True)
                message["Message-ID"] = f"<{key.replace(':', '-')}@bench.invalid>"
                message.set_content(text)
                message.add_alternative(body_html, subtype="html")
                for attachment in json.loads(attachments or "[]"):
                    message.add_attachment(
                        Path(attachment).read_bytes(),
                        maintype="application",
                        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        filename=Path(attachment).name,
                    )
                smtp.send_message(message)
                sent += 1
    return sent


_SUMMARY = """
SELECT p.category, p.number, p.lead_representative, p.signer_count, p.title, p.handling_type,
    (SELECT u.name FROM assignment l JOIN unit u ON u.id = l.unit_id
        WHERE l.item_id = i.id AND l.role = 'lead') AS lead,
    (SELECT group_concat(name, ' ') FROM (SELECT u.name FROM assignment c
        JOIN unit u ON u.id = c.unit_id WHERE c.item_id = i.id AND c.role = 'co' ORDER BY c.id)),
    i.commitment,
    coalesce(i.final_text, (SELECT r.text FROM progressupdate r JOIN assignment l
        ON l.item_id = r.item_id AND l.unit_id = r.unit_id AND l.role = 'lead'
        WHERE r.item_id = i.id AND r.kind = 'final'
        ORDER BY r.reported_on DESC, r.id DESC LIMIT 1), '未反馈')
FROM followupitem i JOIN proposal p ON p.id = i.proposal_id
WHERE p.year = ?
ORDER BY i.position, p.category, p.number, i.ordinal
"""


def compile_raw(db: Path, out: Path, *, year: int) -> int:
    """W4's floor: the summary rows from one query into a write-only workbook."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(f"{year}年度")
    sheet.append([f"{year}年度跟踪办理建议提案落实情况汇总表"])
    sheet.append(list(HEADER))
    count = 0
    with connect(db) as connection:
        for count, row in enumerate(connection.execute(_SUMMARY, (year,)), start=1):
            sheet.append([count, *row])
    workbook.save(out)
    return count
