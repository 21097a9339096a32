"""The test suite's own layout: a module under tests/ never imports a test module or a
conftest.py (fixtures reach tests through pytest, helpers through tests/support/), and
each shared helper is defined once, in tests/support/. Read with `ast`, nothing run."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUPPORT = TESTS / "support"
ONCE = ("wait_for", "wait_until", "make_dead", "register_worker")


def module_name(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(TESTS.rglob("*.py"))}


def absolute(package: str, module: str | None, level: int) -> str:
    """The dotted name of `from <level dots><module> import ...` written in `package`."""
    if level == 0:
        return module or ""
    parts = package.split(".")
    parts = parts[: len(parts) - (level - 1)]  # one dot is the package itself
    return ".".join([*parts, *([module] if module else [])])


def imported(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module the source of module `name` imports, at any depth, as dotted names;
    for `from package import x`, also `package.x` (x may be a module)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = absolute(package, node.module, node.level)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def forbidden(module: str) -> bool:
    """A test module or a conftest: what pytest collects, never what a module imports."""
    last = module.rpartition(".")[2]
    return module in MODULES and (last.startswith("test_") or last == "conftest")


def defined(source: str) -> list[str]:
    """The names of ONCE that the source defines (a def at any depth, or an assignment)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in names if n in ONCE]


def test_no_module_of_the_suite_imports_a_test_module_or_a_conftest():
    found = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        for target in sorted(imported(path.read_text(), name, path.name == "__init__.py"))
        if forbidden(target)
    ]
    assert found == [], "\n".join(found)


def test_each_shared_helper_is_defined_once_and_only_in_tests_support():
    outside = [
        f"{path.relative_to(TESTS)} defines {helper}"
        for path in MODULES.values()
        if SUPPORT not in path.parents
        for helper in defined(path.read_text())
    ]
    assert outside == [], "\n".join(outside)
    inside = [h for p in MODULES.values() if SUPPORT in p.parents for h in defined(p.read_text())]
    assert sorted(inside) == ["make_dead", "register_worker", "wait_for"]


def test_the_reader_resolves_relative_imports_and_finds_nested_definitions():
    source = (
        "from .test_lifecycle import fail\n"
        "from .. import conftest\n"
        "import tests.worker.conftest\n"
        "def test_x():\n"
        "    from tests.factories import make_task\n"
        "    def wait_until(): ...\n"
    )
    assert imported(source, "tests.api.test_x") == {
        "tests.api.test_lifecycle",
        "tests.api.test_lifecycle.fail",
        "tests",
        "tests.conftest",
        "tests.worker.conftest",
        "tests.factories",
        "tests.factories.make_task",
    }
    assert defined(source) == ["wait_until"]
    assert forbidden("tests.worker.conftest") and forbidden("tests.test_task_api")
    assert not forbidden("tests.factories") and not forbidden("tests.api.test_nowhere")
