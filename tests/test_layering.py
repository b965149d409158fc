"""The layering of the developers' guide (and shared/STYLE.md), checked on the source: a cheap
guard against drift."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The web side is an edge (flows.web): the core never imports a web framework or its pieces.
WEB = {"fastapi", "starlette", "uvicorn", "itsdangerous"}
FORBIDDEN = {
    "config": {"tracking", "notifications", "flows", "prefect", "apscheduler", "sqlmodel", *WEB},
    "tracking": {"notifications", "flows", "prefect", "apscheduler", *WEB},
    "notifications": {
        "tracking",
        "flows",
        "prefect",
        "apscheduler",
        "sqlmodel",
        "sqlalchemy",
        *WEB,
    },
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layers(package: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources, f"no sources found for {package}"
    offences = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources
        for name in imported_roots(path) & FORBIDDEN[package]
    }
    assert not offences, sorted(offences)


def test_only_flows_imports_prefect_and_apscheduler() -> None:
    offences = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if ".venv" not in path.parts
        and path.parts[len(ROOT.parts)] not in {"flows", "tests", "bench"}
        and imported_roots(path) & {"prefect", "apscheduler"}
    ]
    assert offences == []
