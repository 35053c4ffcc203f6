"""House rules that code review would otherwise have to catch: stages meet over OTLP and SQL, never
by import; the router's rooms import one way only; no module takes part in an import cycle; span
attribute names exist only in the kernel's semconv module; SQL text is never built from f-strings
in the stages.

Every import statement counts: module level, inside functions and under `TYPE_CHECKING` alike — a
lazy or type-only import is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from routeledger import semconv

ROOT = Path(__file__).resolve().parents[1]
#: Stage folders at the repository root, installed as `routeledger.<stage>`.
STAGES = ("router", "collector", "analytics", "dashboards")
ALLOWED = {"dashboards": {"analytics"}}
#: Kernel modules that compose the stages (entry points), allowed to import them lazily.
COMPOSITION_ROOTS = {"routeledger.cli", "routeledger.demo"}
#: The router's rooms and the rooms each may import (besides itself): the path of a request,
#: ingress → policy → upstream, with telemetry beside policy and the api contract under all.
ROOMS = {
    "ingress": {"policy", "upstream", "telemetry", "api"},
    "policy": {"upstream", "api"},
    "telemetry": {"upstream", "api"},
    "upstream": {"api"},
    "api": set(),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts[0] == "routeledger" else ".".join(["routeledger", *parts])


@cache
def modules() -> dict[str, Path]:
    """Every module of the installed namespace, by its `routeledger.*` name (symlinks not followed)."""
    found = {}
    for top in ("routeledger", *STAGES):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if any((ROOT / p).is_symlink() for p in [rel, *rel.parents] if p != Path(".")):
                continue
            found[_module_name(path)] = path
    return found


def _resolve(name: str) -> str | None:
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports_of(module: str) -> frozenset[str]:
    """The project modules `module` imports (a `from pkg import sub` names the submodule)."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*head, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in modules() else _resolve(base)
                if target:
                    found.add(target)
    found.discard(module)
    return frozenset(found)


def raw_import_roots(path: Path) -> set[str]:
    """First components of every absolute import in `path`, project or not."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "router" and parts[2] in ROOMS else None


def test_the_only_top_level_name_is_routeledger() -> None:
    """`router`, `collector`, ... exist only as `routeledger.*`: importing the bare name would work
    from a source checkout and fail from the wheel."""
    offenders = {}
    for path in [*modules().values(), *sorted((ROOT / "tests").rglob("*.py")), *sorted((ROOT / "bench").glob("*.py"))]:
        bare = raw_import_roots(path) & set(STAGES)
        if bare:
            offenders[str(path.relative_to(ROOT))] = bare
    assert offenders == {}


@pytest.mark.parametrize("stage", STAGES)
def test_stages_never_import_each_other(stage: str) -> None:
    forbidden = set(STAGES) - {stage} - ALLOWED.get(stage, set())
    offenders = {}
    for module in modules():
        if stage_of(module) == stage:
            bad = {stage_of(m) for m in imports_of(module)} & forbidden
            if bad:
                offenders[module] = bad
    assert offenders == {}


def test_the_kernel_imports_stages_only_in_its_entry_points() -> None:
    offenders = {}
    for module in modules():
        if stage_of(module) is None and module not in COMPOSITION_ROOTS:
            bad = {stage_of(m) for m in imports_of(module)} - {None}
            if bad:
                offenders[module] = bad
    assert offenders == {}


def test_every_router_module_lives_in_a_room() -> None:
    loose = [m for m in modules() if stage_of(m) == "router" and room_of(m) is None and m != "routeledger.router"]
    assert loose == []


def test_router_rooms_import_one_way() -> None:
    offenders = []
    for module in modules():
        room = room_of(module)
        if room is None:
            continue
        for target in imports_of(module):
            other = room_of(target)
            if other is not None and other != room and other not in ROOMS[room]:
                offenders.append(f"{module} -> {target}")
    assert offenders == []


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in modules():
        if root in index:
            continue
        work = [(root, iter(sorted(imports_of(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports_of(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycles_anywhere() -> None:
    assert import_cycles() == []


def test_attribute_names_exist_only_in_semconv() -> None:
    names = {v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str) and "." in v}
    offenders = []
    for module, path in modules().items():
        if module == "routeledger.semconv":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_no_sql_is_built_with_f_strings_in_the_stages() -> None:
    keywords = ("SELECT ", "INSERT INTO", " FROM ", " WHERE ", "GROUP BY", "ORDER BY", "ALTER TABLE", "CREATE TABLE")
    offenders = []
    for module, path in modules().items():
        if stage_of(module) is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                if sum(k in text.upper() for k in keywords) >= 2:  # prose says "from" too
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
