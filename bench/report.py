"""The results as rows with a verdict against each target, printed with rich and written to
docs/benchmarks.md between markers (what is outside them, the findings, is kept)."""

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.table import Table

START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
MEMORY_TARGET_MB, MEMORY_TARGET_ITEMS = 300, 50000
LINEAR_SLACK = 1.25  # a size's memory per item may exceed the smaller size's by this much


@dataclass(frozen=True)
class Row:
    workload: str
    items: str
    duban: str
    baseline: str
    ratio: str
    target: str
    verdict: str  # met, missed, or "" where there is no target


def rows(results: dict[str, Any]) -> list[Row]:
    found: list[Row] = []
    sizes = sorted(results["sizes"].items(), key=lambda pair: int(pair[0]))
    for items, size in sizes:
        found += _size_rows(f"{int(items):,}", size)
    found += _memory_rows(sizes)
    quick = results["quick"]
    found.append(
        Row(
            "W5 `duban list` (subprocess)",
            "1,000",
            f"{quick['list']:.2f} s",
            f"{quick['pass']:.2f} s",
            f"{quick['list'] / quick['pass']:.0f}×",
            "< 0.5 s, no prefect",
            _verdict(quick["list"] < 0.5 and quick["prefect_absent"]),
        )
    )
    found.append(
        Row(
            "W5 `import flows.cli` alone",
            "",
            f"{quick['import']:.2f} s",
            f"{quick['pass']:.2f} s",
            "",
            f"prefect absent: {'yes' if quick['prefect_absent'] else 'NO'}",
            "",
        )
    )
    service = results.get("service")
    if service is not None:
        found.append(
            Row(
                f"W7 chase job as `duban run` fires it ({service['messages']} messages)",
                "1,000",
                f"{service['job']:.1f} s",
                f"{service['plain']:.1f} s",
                f"{service['job'] / service['plain']:.2f}×",
                "plain steps: W2 + W3",
                "",
            )
        )
    for kind in ("cold", "warm"):
        start = results["prefect"][kind]
        found.append(
            Row(
                f"Prefect first flow run, {kind}",
                "",
                f"{start['first_run']:.1f} s",
                "",
                "",
                f"import {start['import']:.1f} s; process {start['process']:.1f} s",
                "",
            )
        )
    return found


def _size_rows(items: str, size: dict[str, Any]) -> list[Row]:
    w1, w2, w4 = _medians(size["w1"]), _medians(size["w2"]), _medians(size["w4"])
    product_send, raw_send = _medians(size["w3"])
    sent = size["messages"]
    found = [
        _timed("W1 import (`--no-feedback`)", items, w1, "≤ 3×", 3),
        _timed("W2 plan + render + sheets + ledger", items, w2, "≤ 2×", 2),
        Row(
            f"W3 SMTP delivery ({sent} of {size['digests']} msgs, "
            f"{size['message_mb'] * 1024:.0f} KB avg)",
            items,
            f"{sent / product_send:.1f} msg/s",
            f"{size['raw_messages'] / raw_send:.1f} msg/s",
            f"{raw_send / product_send:.2f}×",
            "≥ 0.7×",
            _verdict(raw_send / product_send >= 0.7),
        ),
        _timed(f"W4 compile XLSX (rows {size['w4_rows_seconds']:.1f} s)", items, w4, "≤ 2×", 2),
    ]
    return found + _web_rows(items, size.get("web"))


def _web_rows(items: str, web: dict[str, Any] | None) -> list[Row]:
    """W6: the pages, each timed alone (the issue sets them no target; a second is ours)."""
    if web is None:
        return []
    pages = web["pages"]
    unit, raw = pages["unit"], web["raw_unit"]
    found = [
        Row(
            f"W6 unit page ({web['unit']['assignments']} items, {unit['kb']:.0f} KB)",
            items,
            f"{unit['seconds']:.2f} s",
            f"{raw['seconds']:.3f} s",
            f"{unit['seconds'] / raw['seconds']:.0f}×",
            "< 1 s",
            _verdict(unit["seconds"] < 1),
        )
    ]
    for name, label in (
        ("dashboard", "dashboard"),
        ("items", "item list, open items (first page)"),
        ("item", "one item's page"),
    ):
        page = pages[name]
        found.append(
            Row(
                f"W6 {label} ({page['kb']:.0f} KB)",
                items,
                f"{page['seconds']:.2f} s",
                "",
                "",
                "< 1 s",
                _verdict(page["seconds"] < 1),
            )
        )
    return found


def _memory_rows(sizes: list[tuple[str, dict[str, Any]]]) -> list[Row]:
    found = []
    previous: float | None = None
    for items, size in sizes:
        per_1k = (size["peak_mb"] - size["start_mb"]) / int(items) * 1000
        linear = previous is None or per_1k <= previous * LINEAR_SLACK
        previous = per_1k
        heaviest = max(size["peaks"], key=lambda name: size["peaks"][name])
        under = int(items) < MEMORY_TARGET_ITEMS or size["peak_mb"] <= MEMORY_TARGET_MB
        found.append(
            Row(
                f"Peak memory, duban's own (VmHWM; in {heaviest})",
                f"{int(items):,}",
                f"{size['peak_mb']:.0f} MB",
                f"{size['start_mb']:.0f} MB at start",
                f"+{per_1k:.1f} MB per 1k items over start",
                "≤ 300 MB at 50k; linear",
                _verdict(under and linear),
            )
        )
    return found


def _timed(name: str, items: str, medians: tuple[float, float], target: str, limit: float) -> Row:
    product, baseline = medians
    return Row(
        name,
        items,
        f"{product:.2f} s",
        f"{baseline:.2f} s",
        f"{product / baseline:.1f}×",
        target,
        _verdict(product / baseline <= limit),
    )


def _medians(times: dict[str, list[float]]) -> tuple[float, float]:
    return statistics.median(times["product"]), statistics.median(times["baseline"])


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def table(found: list[Row], results: dict[str, Any]) -> Table:
    out = Table(title=f"duban benchmarks ({results['minutes']:.1f} min)")
    for column in ("workload", "items", "duban", "baseline", "ratio", "target", ""):
        out.add_column(column)
    for row in found:
        style = {"met": "green", "missed": "bold red"}.get(row.verdict, "")
        out.add_row(
            row.workload,
            row.items,
            row.duban,
            row.baseline,
            row.ratio,
            row.target,
            f"[{style}]{row.verdict}[/]" if style else "",
        )
    return out


def write_docs(path: Path, found: list[Row], results: dict[str, Any]) -> None:
    """Replace the results between the markers in ``path``; keep everything else."""
    block = "\n".join([START, *_markdown(found, results), END])
    empty = f"# Benchmarks\n\n{START}\n{END}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else empty
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(before + block + after, encoding="utf-8")


def _markdown(found: list[Row], results: dict[str, Any]) -> list[str]:
    lines = [
        f"Measured {results['started']} ({results['minutes']:.0f} min for the run) on: "
        f"{_machine(results)}.",
        "",
        "| workload | items | duban | baseline | ratio | target | |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in found:
        verdict = {"met": "met", "missed": "**missed**"}.get(row.verdict, "")
        cells = (row.workload, row.items, row.duban, row.baseline, row.ratio, row.target, verdict)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "What each size did (duban's counts; the baselines did the same work):", ""]
    lines += [
        "| items | table | assignments owing | digests | W3 messages sent | peak memory in each "
        "workload, duban (baseline), MB |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for items, size in sorted(results["sizes"].items(), key=lambda pair: int(pair[0])):
        baseline_peaks = size.get("baseline_peaks", {})
        peaks = ", ".join(
            f"{name} {mb:.0f}"
            + (f" ({baseline_peaks[name]:.0f})" if name in baseline_peaks else "")
            for name, mb in size["peaks"].items()
        )
        web = size.get("web")
        web_peak = f"; web pages' process {web['peak_mb']:.0f}" if web else ""
        lines.append(
            f"| {int(items):,} | {size['table_mb']:.1f} MB | {size['entries']:,} | "
            f"{size['digests']} | {size['messages']} | {peaks}{web_peak} |"
        )
    return lines


def _machine(results: dict[str, Any]) -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        release = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if line
        )["PRETTY_NAME"].strip('"')
    except (OSError, KeyError):
        release = platform.platform()
    libraries = ", ".join(
        f"{name} {version(name)}" for name in ("sqlalchemy", "openpyxl", "aiosmtpd", "prefect")
    )
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{release} ({platform.system()} {platform.release()}); {libraries}; "
        f"duban at {results['code']}"
    )


def code_state() -> str:
    """The commit measured, and the product files changed since (the bench's own left out)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.rstrip()  # not strip: a status line starts with a space

    mine = ("bench/", "docs/", "Makefile")
    status = git("status", "--porcelain").splitlines()
    changed = sorted(line[3:] for line in status if not line[3:].startswith(mine))
    dirty = f" + uncommitted changes to {', '.join(changed)}" if changed else ""
    return f"{git('rev-parse', '--short', 'HEAD')}{dirty}"
