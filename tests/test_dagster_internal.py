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


# Underscore names that are public API: namedtuple methods, os._exit, sys._getframe, and argparse's
# subparsers type (what add_subparsers returns, used in annotations).
PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe", "_SubParsersAction"}


def _own_private_names(tree: ast.AST) -> set[str]:
    """Private names the module itself defines (``self._x = …``, ``def _x``): a class may read them on
    another instance of itself (e.g. a classmethod building one)."""
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) and node.value.id == "self":
            own.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AnnAssign) and getattr(node, "name", None):
            own.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            own.add(node.target.id)  # dataclass fields
    return own


def private_attributes(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``/``cls`` and ``_name`` is not the module's own:
    another library's private attribute."""
    tree = ast.parse(path.read_text(), str(path))
    own = _own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        if node.attr in PUBLIC_UNDERSCORE | own or (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            continue
        found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}")
    return found


def test_only_the_internal_module_reads_private_attributes_of_other_objects():
    offenders = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != ALLOWED for hit in private_attributes(path)]
    assert offenders == [], "wrap these in ml_platform._dagster_internal (with the reason) or use public API:\n" + "\n".join(offenders)


def test_the_attribute_scan_finds_the_private_reads_of_the_internal_module():
    assert {hit.rsplit(" ", 1)[1] for hit in private_attributes(ALLOWED)} >= {"._steps_by_key", "._plan_context", "._compute_fn"}
