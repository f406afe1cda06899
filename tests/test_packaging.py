"""The wheel users install carries what pyresque loads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_has_the_lua_scripts_schemas_and_cli(tmp_path):
    # Build from a copy, so no build/ directory is left in the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "pyresque", src / "pyresque", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "protocol" / "schemas", src / "protocol" / "schemas")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         str(src), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = (tmp_path / "dist").glob("pyresque-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    lua = {p.name for p in (ROOT / "pyresque" / "scripts").glob("*.lua")}
    schemas = {p.name for p in (ROOT / "protocol" / "schemas").glob("*.json")}
    assert lua and {f"pyresque/scripts/{n}" for n in lua} <= names
    assert schemas and {f"pyresque/schemas/{n}" for n in schemas} <= names
    assert "pyresque/py.typed" in names
    web = {f"pyresque/web/{p.relative_to(ROOT / 'pyresque' / 'web')}"
           for p in (ROOT / "pyresque" / "web").rglob("*") if p.suffix in (".html", ".js", ".css")}
    assert "pyresque/web/templates/pyresque/base.html" in web and web <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pyresque = pyresque.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
