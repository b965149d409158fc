"""``make bench``: every size's workloads in a fresh process, then the quick command and
Prefect's start; prints the table and, for the full run, writes docs/benchmarks.md.

    python -m bench.run                       # 1000,10000,50000 items (5 to 7 minutes)
    python -m bench.run --sizes 1000          # the quick run (about 2 minutes)
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import report, workloads
from bench.state import copy_state

DEFAULT_SIZES = (1000, 10000, 50000)
QUICK_ITEMS = 1000  # the size W5's database has
DOCS = workloads.ROOT / "docs" / "benchmarks.md"
PYTHON_SIZE = (sys.executable, "-m", "bench.size")


def run_size(items: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        *PYTHON_SIZE,
        f"--items={items}",
        f"--work={work}",
        f"--max-runs={args.max_runs}",
        f"--budget={args.budget}",
    ]
    if args.smtp_sample:
        command.append(f"--smtp-sample={args.smtp_sample}")
    done = subprocess.run(
        command, cwd=workloads.ROOT, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(done.stdout)


def web_pages(size_work: Path) -> dict[str, Any]:
    """W6: the pages on a copy of the size's imported year, in a process of its own."""
    return _measured_apart("bench.web", copy_state(size_work / "ready", size_work / "web"))


def service_chase(size_work: Path) -> dict[str, Any]:
    """W7: the scheduled chase through Prefect beside its plain steps, in a process of its own."""
    return _measured_apart(
        "bench.service", copy_state(size_work / "ready", size_work / "w7" / "ready")
    )


def _measured_apart(module: str, state: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, f"--state={state}"],
        cwd=workloads.ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(done.stdout)


def quick_command(state_dir: Path, runs: int) -> dict[str, Any]:
    """W5: ``duban list`` against the 1k database beside ``python -c pass``, alternately."""
    env = workloads.quick_command_env(state_dir)
    python = str(workloads.VENV_BIN / "python")
    commands = {
        "list": [str(workloads.VENV_BIN / "duban"), "list"],
        "import": [python, "-c", "import flows.cli"],
        "pass": [python, "-c", "pass"],
    }
    cwd = state_dir.parent  # no duban.toml there
    times: dict[str, list[float]] = {name: [] for name in commands}
    for run in range(runs + 1):
        for name, argv in commands.items():
            elapsed = workloads.time_command(argv, env, cwd)
            if run:  # the first round warms the page cache
                times[name].append(elapsed)
    return {
        **{name: statistics.median(values) for name, values in times.items()},
        "runs": runs,
        "prefect_absent": workloads.prefect_absent_after_list(state_dir, cwd),
    }


def prefect_start(work: Path) -> dict[str, Any]:
    """A first trivial flow run with a fresh PREFECT_HOME, then again with the same one."""
    state = work / "prefect-state"
    return {
        "cold": workloads.prefect_first_run(state),
        "warm": workloads.prefect_first_run(state),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="items per synthetic year, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--smtp-sample",
        type=int,
        default=100,
        help="W3 sends at most this many of the ~300 messages, 0 for all (default: %(default)s)",
    )
    parser.add_argument(
        "--max-runs", type=int, default=5, help="runs of a workload at most (default: %(default)s)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=15.0,
        help="seconds of runs after which a workload is not repeated (default: %(default)s)",
    )
    parser.add_argument(
        "--quick-runs", type=int, default=5, help="runs of each W5 command (default: %(default)s)"
    )
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--save", type=Path, help="also write the raw results to this JSON file")
    parser.add_argument("--load", type=Path, help="report saved results instead of measuring")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs",
        action="store_true",
        default=None,
        help="write docs/benchmarks.md (default: only for the full run, sizes 1000,10000,50000)",
    )
    docs.add_argument("--no-docs", dest="docs", action="store_false", help="print the table only")
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",")})

    console = Console(stderr=True)
    if args.load:
        results = json.loads(args.load.read_text(encoding="utf-8"))
    else:
        results = measure(sizes, args, console)
    measured = tuple(sorted(int(items) for items in results["sizes"]))
    write_docs = args.docs if args.docs is not None else measured == DEFAULT_SIZES
    if args.save:
        args.save.write_text(json.dumps(results, indent=1), encoding="utf-8")
    rows = report.rows(results)
    Console(width=None if sys.stdout.isatty() else 160).print(report.table(rows, results))
    if write_docs:
        report.write_docs(DOCS, rows, results)
        console.print(f"Results written to {DOCS.relative_to(workloads.ROOT)}")
    else:
        console.print("docs/benchmarks.md left as it is (a partial run); --docs writes it")


def measure(sizes: list[int], args: argparse.Namespace, console: Console) -> dict[str, Any]:
    work = args.work or Path(tempfile.mkdtemp(prefix="duban-bench-"))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "sizes": {},
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "code": report.code_state(),
    }
    try:
        for items in sizes:
            console.print(f"[bold]{items} items[/] (W1–W4 in a fresh process)")
            results["sizes"][items] = run_size(items, work / str(items), args)
            console.print(f"[bold]{items} items[/]: W6 web pages (in a fresh process)")
            results["sizes"][items]["web"] = web_pages(work / str(items))
        console.print("[bold]W5[/]: duban list against the 1k database")
        quick_dir = work / str(QUICK_ITEMS)
        if QUICK_ITEMS not in sizes:
            subprocess.run(
                [*PYTHON_SIZE, f"--items={QUICK_ITEMS}", f"--work={quick_dir}", "--prepare-only"],
                cwd=workloads.ROOT,
                check=True,
            )
        results["quick"] = quick_command(quick_dir / "ready", args.quick_runs)
        console.print("[bold]W7[/]: the chase job as `duban run` fires it, on the 1k year")
        results["service"] = service_chase(quick_dir)
        console.print("[bold]Prefect[/]: first flow run, fresh PREFECT_HOME, then warm")
        results["prefect"] = prefect_start(work)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    results["minutes"] = (time.perf_counter() - started) / 60
    if report.code_state() != results["code"]:
        results["code"] += f" (changed during the run, to {report.code_state()})"
    return results


if __name__ == "__main__":
    main()
