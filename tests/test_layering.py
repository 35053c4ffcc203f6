"""House rules that code review would otherwise have to catch: stages meet over OTLP and SQL, never
by import; span attribute names exist only in the kernel's semconv module; SQL text is never
built from f-strings in the stages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from routeledger import semconv

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("router", "collector", "analytics", "dashboards")
ALLOWED = {"dashboards": {"analytics"}}
#: Kernel modules that compose the stages (entry points), allowed to import them lazily.
COMPOSITION_ROOTS = {"routeledger/cli.py", "routeledger/demo.py"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_stages_never_import_each_other(stage: str) -> None:
    forbidden = set(STAGES) - {stage} - ALLOWED.get(stage, set())
    offenders = {str(p.relative_to(ROOT)): imported_packages(p) & forbidden for p in modules(stage)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_kernel_imports_stages_only_in_its_entry_points() -> None:
    offenders = {}
    for path in modules("routeledger"):
        rel = str(path.relative_to(ROOT))
        if rel not in COMPOSITION_ROOTS and imported_packages(path) & set(STAGES):
            offenders[rel] = imported_packages(path) & set(STAGES)
    assert offenders == {}


def test_attribute_names_exist_only_in_semconv() -> None:
    names = {v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str) and "." in v}
    offenders = []
    for package in (*STAGES, "routeledger"):
        for path in modules(package):
            if path.name == "semconv.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_no_sql_is_built_with_f_strings_in_the_stages() -> None:
    keywords = ("SELECT ", "INSERT INTO", " FROM ", " WHERE ", "GROUP BY", "ORDER BY", "ALTER TABLE", "CREATE TABLE")
    offenders = []
    for package in STAGES:
        for path in modules(package):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.JoinedStr):
                    text = "".join(
                        v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                    )
                    if sum(k in text.upper() for k in keywords) >= 2:  # prose says "from" too
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
