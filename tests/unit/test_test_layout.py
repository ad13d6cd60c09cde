"""Test helpers live in ``tests/support``: no module under tests/ imports from a test
module or a conftest (a test module imported by another runs its module code twice and
drags its fixtures along; a conftest is pytest's to load)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything ``path`` imports, relative imports
    resolved against its package under ``root``; ``from a import b`` gives ``a.b``."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{module}" if module else base
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def outside_support(name: str) -> bool:
    """Whether ``name`` is in the tests package but not in tests.support."""
    parts = name.split(".")
    return parts[0] == "tests" and len(parts) > 1 and parts[1] != "support"


def test_no_module_under_tests_imports_a_test_module_or_a_conftest() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line, name in imported_modules(path)
        if outside_support(name)
    ]
    assert offending == [], "move what is shared into tests/support:\n" + "\n".join(offending)


def test_every_way_of_importing_a_test_module_is_seen(tmp_path: Path) -> None:
    module = tmp_path / "tests" / "e2e" / "test_example.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import tests.e2e.conftest\n"
        "from tests.e2e.test_filing import mobile\n"
        "from tests.e2e import test_fuzz\n"
        "from .conftest import World\n"
        "from ..unit import test_deploy\n"
        "from tests.support.world import World\n"
        "import tests.support.infra\n",
        encoding="utf-8",
    )
    names = [name for _, name in imported_modules(module, tmp_path)]
    assert [name for name in names if outside_support(name)] == [
        "tests.e2e.conftest",
        "tests.e2e.test_filing.mobile",
        "tests.e2e.test_fuzz",
        "tests.e2e.conftest.World",
        "tests.unit.test_deploy",
    ]
