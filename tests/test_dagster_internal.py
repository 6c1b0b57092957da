"""Internal Dagster imports live in one module, so a Dagster upgrade is checked against one list."""

import ast
from pathlib import Path

import ml_platform

PACKAGE = Path(ml_platform.__file__).parent
ALLOWED = PACKAGE / "_dagster_internal.py"


def internal_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {n}" for n in names if n.startswith("dagster._")]
    return found


def test_only_the_internal_module_imports_dagster_internals():
    offenders = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != ALLOWED for hit in internal_imports(path)]
    assert offenders == [], "import these through ml_platform._dagster_internal:\n" + "\n".join(offenders)


def test_the_scan_finds_the_imports_of_the_internal_module():
    assert any(hit.endswith(" dagster._core.executor.step_delegating") for hit in internal_imports(ALLOWED))
