"""One size's workloads W1 to W4, in a process of its own so that its peak memory is its own.

``python -m bench.size --items N --work DIR`` prints one JSON object: the times of every run of
duban and of the baseline, the counts that show both did the same work, and the peak resident
memory each side reached in each workload. Progress goes to stderr.

Memory is read off Linux's /proc: before each side of a pair the process's high-water mark
(VmHWM) is restarted at its resident size, after freed memory has been handed back, so that a
workload's peak is duban's own and not what the previous baseline left behind (the baseline of
W1 keeps the whole table as lists, more than duban's import holds).
"""

import argparse
import ctypes
import gc
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import baselines, synth, workloads
from bench.smtp_sink import SmtpSink
from bench.state import copy_state, fresh_dir, record_final_reports
from flows.app import App
from notifications.mail import MailBackend, SmtpBackend

YEAR = 2022
AS_OF = date(2022, 6, 15)  # a Wednesday; imported items owe progress since early February
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # inside office hours
REPORTED_ON = date(2022, 11, 1)
SENDER = "duban@localhost"

Prepare = Callable[[int], Callable[[], Any]]  # run number -> the action to time


_LIBC = ctypes.CDLL(None)


def resident_mb(field: str = "VmRSS") -> float:
    """A figure of /proc/self/status (VmRSS now, VmHWM the high-water mark) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def restart_peak() -> None:
    """Collect garbage, hand freed heap back to the system (glibc's malloc_trim), and restart
    the high-water mark at the resident size (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0)."""
    gc.collect()
    if hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Runner:
    """Times duban and its baseline alternately, so that a noisy spell hits both alike."""

    max_runs: int
    budget: float  # seconds: once a pair's runs have taken this long, it is not repeated
    peaks: dict[str, dict[str, float]] = field(default_factory=dict)  # workload -> side -> MB
    _apps: list[App] = field(default_factory=list)

    def app(self, state_dir: Path, mail: MailBackend | None = None) -> App:
        app = workloads.make_app(state_dir, mail=mail)
        self._apps.append(app)
        return app

    def pair(self, name: str, product: Prepare, baseline: Prepare) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"product": [], "baseline": []}
        peaks = {"product": 0.0, "baseline": 0.0}
        spent = 0.0
        for run in range(self.max_runs):
            for side, prepare in (("product", product), ("baseline", baseline)):
                action = prepare(run)
                restart_peak()
                start = time.perf_counter()
                action()
                times[side].append(time.perf_counter() - start)
                peaks[side] = max(peaks[side], resident_mb("VmHWM"))
                spent += times[side][-1]
                self.close_apps()
            if spent > self.budget:
                break
        self.peaks[name] = peaks
        log(f"{name}: duban {_brief(times['product'])}, baseline {_brief(times['baseline'])}")
        return times

    def close_apps(self) -> None:
        for app in self._apps:
            app.engine.dispose()
        self._apps.clear()


def _brief(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times) + " s"


def prepare_year(items: int, work: Path) -> tuple[Path, Path]:
    table, units = work / "table.txt", work / "units.toml"
    synth.write_table(table, items, year=YEAR)
    synth.write_units(units)
    return table, units


def run_size(items: int, work: Path, *, smtp_sample: int | None, runner: Runner) -> dict[str, Any]:
    result: dict[str, Any] = {"items": items, "start_mb": resident_mb()}
    table, units = prepare_year(items, work)
    result["table_mb"] = table.stat().st_size / 2**20
    log(f"{items} items: {result['table_mb']:.1f} MB of table in {table}")

    # W1: the table into a fresh database.
    def import_product(run: int) -> Callable[[], Any]:
        app = runner.app(fresh_dir(work / f"w1-{run}"))
        return lambda: workloads.import_year(app, table, year=YEAR, now=NOW)

    def import_baseline(run: int) -> Callable[[], Any]:
        db = fresh_dir(work / f"w1-raw-{run}") / "raw.db"
        baselines.create_import_schema(db)
        return lambda: baselines.import_raw(table, db, year=YEAR, now=NOW)

    result["w1"] = runner.pair("w1", import_product, import_baseline)
    imported = work / "w1-0"
    workloads.load_contacts(runner.app(imported), units, now=NOW)
    runner.close_apps()
    ready = copy_state(imported, work / "ready")

    # W2: plan, render (each liaison's digest and its return sheet) and write the ledger.
    drafted: dict[str, tuple[int, int]] = {}

    def draft_product(run: int) -> Callable[[], Any]:
        app = runner.app(copy_state(ready, work / f"w2-{run}"))
        return lambda: drafted.setdefault(
            "counts", workloads.draft_chase(app, as_of=AS_OF, now=NOW)
        )

    def draft_baseline(run: int) -> Callable[[], Any]:
        db = copy_state(ready, work / f"w2-raw-{run}") / "duban.db"
        return lambda: drafted.setdefault("raw", (baselines.draft_raw(db, as_of=AS_OF, now=NOW), 0))

    result["w2"] = runner.pair("w2", draft_product, draft_baseline)
    result["digests"], result["entries"] = drafted["counts"]
    result["raw_digests"] = drafted["raw"][0]

    # W3: every pending message (or a sample) to a loopback SMTP server.
    source = work / "w2-0"
    sent: dict[str, int] = {}
    with SmtpSink() as sink:

        def send_product(run: int) -> Callable[[], Any]:
            mail = SmtpBackend(sink.host, sink.port, timeout=120)
            app = runner.app(copy_state(source, work / f"w3-{run}"), mail=mail)
            return lambda: sent.setdefault(
                "product", workloads.deliver_pending(app, now=NOW, limit=smtp_sample)
            )

        def send_baseline(run: int) -> Callable[[], Any]:
            db = source / "duban.db"
            return lambda: sent.setdefault(
                "baseline",
                baselines.send_raw(db, sink.host, sink.port, sender=SENDER, limit=smtp_sample),
            )

        result["w3"] = runner.pair("w3", send_product, send_baseline)
    result["messages"], result["raw_messages"] = sent["product"], sent["baseline"]
    received, size = sink.received
    result["message_mb"] = size / received / 2**20 if received else 0.0

    # W4: the year's rows and workbook, once the lead units' final reports are in.
    compiled = copy_state(imported, work / "w4")
    record_final_reports(compiled / "duban.db", table, reported_on=REPORTED_ON, now=NOW)

    def compile_product(run: int) -> Callable[[], Any]:
        app = runner.app(compiled)
        return lambda: workloads.compile_xlsx(app, work / f"w4-{run}.xlsx", year=YEAR)

    def compile_baseline(run: int) -> Callable[[], Any]:
        out = work / f"w4-raw-{run}.xlsx"
        return lambda: baselines.compile_raw(compiled / "duban.db", out, year=YEAR)

    result["w4"] = runner.pair("w4", compile_product, compile_baseline)
    rows_app = runner.app(compiled)
    start = time.perf_counter()
    workloads.summary_rows_only(rows_app, year=YEAR)
    result["w4_rows_seconds"] = time.perf_counter() - start
    runner.close_apps()

    result["peaks"] = {name: sides["product"] for name, sides in runner.peaks.items()}
    result["baseline_peaks"] = {name: sides["baseline"] for name, sides in runner.peaks.items()}
    result["peak_mb"] = max(result["peaks"].values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--smtp-sample", type=int, default=None)
    parser.add_argument("--max-runs", type=int, default=5)
    parser.add_argument("--budget", type=float, default=15.0)
    parser.add_argument("--prepare-only", action="store_true")
    args = parser.parse_args()
    work = fresh_dir(args.work)
    runner = Runner(max_runs=args.max_runs, budget=args.budget)
    if args.prepare_only:  # W5's database without the measurements
        table, units = prepare_year(args.items, work)
        app = runner.app(work / "ready")
        workloads.import_year(app, table, year=YEAR, now=NOW)
        workloads.load_contacts(app, units, now=NOW)
        runner.close_apps()
        return
    result = run_size(args.items, work, smtp_sample=args.smtp_sample, runner=runner)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
