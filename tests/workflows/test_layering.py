"""The workflow engine imports nothing from the web layer: checked on the source (``ast``) and on
what importing every workflows module actually loads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

WEB_LAYER = ("starlette", "uvicorn", "strawberry", "graphql", "websockets")
# app.errors is Trellis's one error hierarchy (plain dataclasses, no web imports): data sources raise
# it and workflow task runners translate it. Nothing else under app/ may be imported.
ALLOWED_FROM_APP = {"app", "app.errors"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _forbidden(name: str) -> bool:
    root = name.split(".")[0]
    return root in WEB_LAYER or (root == "app" and name not in ALLOWED_FROM_APP)


def _modules() -> list[str]:
    return [".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            for path in sorted((REPO / "workflows").rglob("*.py"))]


def test_no_workflows_module_imports_the_web_layer() -> None:
    offenders = [f"{path.relative_to(REPO)}: {name}" for path in sorted((REPO / "workflows").rglob("*.py"))
                 for name in _imports(path) if _forbidden(name)]
    assert offenders == []


def test_importing_every_workflows_module_loads_no_web_module() -> None:
    script = (f"import importlib, json, sys\nfor m in {_modules()!r}: importlib.import_module(m)\n"
              "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True,
                                       text=True).stdout)
    assert [name for name in loaded if _forbidden(name)] == []


def test_the_check_would_see_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from app.runtime import Runtime\nimport starlette.requests\nfrom app.errors import X\n")
    assert [name for name in _imports(sample) if _forbidden(name)] == ["app.runtime", "starlette.requests"]
