"""The engine's imports make no circle, and every module of it imports on its own.

A circle is a strongly connected component of more than one module in the graph of
module-level imports (tests/import_graph.py; imports for type checkers do not count).
An import inside a function is listed apart: each one must say in a comment why it is
not at module level, and none may be hiding a circle (moved to module level, it would
close one, imports for type checkers counted). Each rule is first shown to fail on a
small made-up package.
"""

from pathlib import Path

from .import_graph import (
    ENGINE,
    describe_circles,
    engine_imports,
    engine_modules,
    failed_imports,
    hidden_circles,
    unexplained,
)


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    modules = {}
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        parts = Path(relative).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_a_circle_through_module_level_imports_is_found_and_named(tmp_path):
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from .b import x\n",
            "pkg/b.py": "from pkg import c\n",
            "pkg/c.py": "import os\n\nfrom . import a\n",
        },
    )
    assert describe_circles(engine_imports(modules)) == [
        "pkg.a <-> pkg.b <-> pkg.c: pkg.a (line 1) imports pkg.b; "
        "pkg.b (line 1) imports pkg.c; pkg.c (line 3) imports pkg.a"
    ]


def test_importing_a_module_of_another_package_runs_that_package_first(tmp_path):
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/conf.py": "from .sub.keys import K\n",
            "pkg/sub/__init__.py": "from .reads import R\n",
            "pkg/sub/keys.py": "K = 1\n",
            "pkg/sub/reads.py": "from ..conf import C\n",
        },
    )
    assert describe_circles(engine_imports(modules)) == [
        "pkg.conf <-> pkg.sub <-> pkg.sub.reads: pkg.conf (line 1) imports pkg.sub; "
        "pkg.sub (line 1) imports pkg.sub.reads; pkg.sub.reads (line 1) imports pkg.conf"
    ]


def test_a_function_level_import_that_would_close_a_circle_is_a_hidden_circle(tmp_path):
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/conf.py": "def check():\n    from .periodic import valid  # later\n",
            "pkg/periodic.py": "from .registry import registry\n",
            "pkg/registry.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .definition import Task\n"
            ),
            "pkg/definition.py": "from .conf import get\n",
        },
    )
    imports = engine_imports(modules)
    assert describe_circles(imports) == []
    assert hidden_circles(imports) == [
        "pkg.conf (line 2) imports pkg.periodic; pkg.periodic (line 1) imports pkg.registry; "
        "pkg.registry (line 3) imports pkg.definition; pkg.definition (line 1) imports pkg.conf"
    ]


def test_a_function_level_import_needs_a_comment_on_it_or_above_its_run(tmp_path):
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "X = 1\n",
            "pkg/b.py": (
                "def explained():\n"
                "    # after django.setup()\n"
                "    from .a import X\n"
                "    from . import a\n"
                "\n"
                "def inline():\n"
                "    from .a import X  # optional\n"
                "\n"
                "def bare():\n"
                "    s = '# not a comment'\n"
                "    from .a import X\n"
                "\n"
                "def only_for_a_linter():\n"
                "    from .a import X  # noqa: F401\n"
            ),
        },
    )
    missing = unexplained(engine_imports(modules), modules)
    assert [(i.importer, i.line) for i in missing] == [("pkg.b", 11), ("pkg.b", 14)]


def test_a_module_that_fails_to_import_on_its_own_is_named(tmp_path):
    _package(
        tmp_path,
        {
            "circular_pkg/__init__.py": "",
            "circular_pkg/a.py": "from .b import B\n\nA = 1\n",
            "circular_pkg/b.py": "from .a import A\n\nB = 2\n",
            "circular_pkg/c.py": "C = 3\n",
        },
    )
    names = ["circular_pkg.a", "circular_pkg.b", "circular_pkg.c"]
    failed = failed_imports("circular_pkg", names, path=tmp_path)
    assert sorted(failed) == ["circular_pkg.a", "circular_pkg.b"]
    assert "partially initialized module" in failed["circular_pkg.a"]


# --- the rules, on the engine -------------------------------------------------------------


def test_the_engine_imports_at_module_level_make_no_circle():
    assert describe_circles(engine_imports()) == []


def test_no_function_level_import_in_the_engine_hides_a_circle():
    assert hidden_circles(engine_imports()) == []


def test_each_function_level_import_in_the_engine_says_why_in_a_comment():
    modules = engine_modules()
    assert [str(i) for i in unexplained(engine_imports(modules), modules)] == []


def test_each_engine_module_imports_on_its_own_after_django_setup():
    assert failed_imports(ENGINE, sorted(engine_modules())) == {}
