"""The wheel a user installs: `routeledger` is its only top-level name, with every stage under it
and the SQL and YAML files beside the code that reads them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "routeledger", "router", "collector", "analytics", "dashboards")


def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), "."],
        cwd=tree,
        check=True,
    )
    (wheel,) = out.glob("routeledger-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"routeledger"}
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    for stage in ("router", "router/ingress", "router/policy", "router/upstream", "router/telemetry", "router/api"):
        assert f"routeledger/{stage}" in packages
    for stage in ("collector", "analytics", "dashboards", "store", "simulator"):
        assert f"routeledger/{stage}" in packages
    assert "routeledger/router/policy/reconcile.sql" in names
    assert "routeledger/analytics/cost.sql" in names
    assert any(n.startswith("routeledger/store/migrations/") and n.endswith(".sql") for n in names)
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["routeledger"]
