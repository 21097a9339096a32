"""The engine's import graph, read from the source with `ast` (tests/test_import_layers.py).

An edge is an import a module of taskqueue/ makes of another, relative or `taskqueue.`,
with its line. Importing `taskqueue.broker.keys` runs `taskqueue/broker/__init__.py`
first, so that package is a target too (unless the importer is inside it: the package
is then already importing). Each edge says whether it runs when its module is imported
(module level, class bodies included), later when a function is called, or never (under
`if TYPE_CHECKING:`, for type checkers only).
"""

import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = "taskqueue"


@dataclass(frozen=True)
class Import:
    """One engine module importing another, with the lines of the statement."""

    importer: str
    target: str
    line: int
    end_line: int
    in_function: bool
    type_checking: bool = False

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.target}"


def engine_modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module under taskqueue/."""
    found = {}
    for path in sorted((ROOT / ENGINE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(nodes, in_function: bool = False, type_checking: bool = False):
    """(import statement, inside a function?, only for type checkers?) for each import."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function, type_checking
        elif _is_type_checking(node):
            yield from _import_nodes(node.body, in_function, True)
            yield from _import_nodes(node.orelse, in_function, type_checking)
        else:
            deeper = in_function or isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            yield from _import_nodes(ast.iter_child_nodes(node), deeper, type_checking)


def _base_of(importer: str, node: ast.ImportFrom, modules: dict[str, Path]) -> str:
    """The module a `from X import ...` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = importer if is_package(importer, modules) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _targets(importer: str, node: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The engine modules one import statement names (a submodule when it names one)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = _base_of(importer, node, modules)
    named = {f"{base}.{alias.name}" for alias in node.names}
    return {name if name in modules else base for name in named} & modules.keys()


def _with_packages(importer: str, target: str) -> set[str]:
    """The target and each package above it that importing it runs first."""
    found, name = {target}, target
    while "." in name:
        name = name.rpartition(".")[0]
        if not (importer == name or importer.startswith(f"{name}.")):
            found.add(name)
    return found


def engine_imports(modules: dict[str, Path] | None = None) -> list[Import]:
    """Every import of an engine module by an engine module."""
    modules = modules or engine_modules()
    found = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, *where in _import_nodes(tree.body):
            for named in _targets(importer, node, modules):
                found += [
                    Import(importer, target, node.lineno, node.end_lineno, *where)
                    for target in _with_packages(importer, named) - {importer}
                ]
    return found


def at_module_level(imports: list[Import]) -> list[Import]:
    """The imports that run when their module is imported."""
    return [i for i in imports if not (i.in_function or i.type_checking)]


def import_graph(imports: list[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for found in imports:
        graph.setdefault(found.importer, set()).add(found.target)
        graph.setdefault(found.target, set())
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def shortest_path(start: str, goal: str, imports: list[Import]) -> list[Import]:
    """The fewest imports leading from module `start` to module `goal` ([] if none)."""
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for edge in (e for e in imports if e.importer == node):
                if edge.target == goal:
                    return [*paths[node], edge]
                if edge.target not in paths:
                    paths[edge.target] = [*paths[node], edge]
                    following.append(edge.target)
        frontier = following
    return []


def describe_circles(imports: list[Import]) -> list[str]:
    """Each circle of the module-level imports: its modules, and one way round it."""
    imports = at_module_level(imports)
    return [
        f"{' <-> '.join(component)}: "
        + "; ".join(map(str, shortest_path(component[0], component[0], imports)))
        for component in circles(import_graph(imports))
    ]


def hidden_circles(imports: list[Import]) -> list[str]:
    """Function-level imports that would close a circle at module level. Imports made
    only for type checkers count here: they name what the module depends on."""
    written = [i for i in imports if not i.in_function or i.type_checking]
    found = []
    for lazy in (i for i in imports if i.in_function and not i.type_checking):
        back = shortest_path(lazy.target, lazy.importer, written)
        if back:
            found.append("; ".join(map(str, [lazy, *back])))
    return found


# A comment that only talks to a tool (noqa, type: ignore, pragma) gives no reason.
_DIRECTIVE = re.compile(r"#\s*(noqa(:\s*[A-Z]+\d+(\s*,\s*[A-Z]+\d+)*)?|type:.*|pragma:.*)\s*")


def _comment_lines(path: Path) -> set[int]:
    """The lines holding a comment written for people."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return {
        token.start[0]
        for token in tokens
        if token.type == tokenize.COMMENT and not _DIRECTIVE.fullmatch(token.string)
    }


def _runs(imports: list[Import]) -> list[list[Import]]:
    """Function-level imports grouped into runs of consecutive lines in one module."""
    runs: list[list[Import]] = []
    for found in sorted(imports, key=lambda i: (i.importer, i.line)):
        last = runs[-1][-1] if runs else None
        if last and last.importer == found.importer and found.line <= last.end_line + 1:
            runs[-1].append(found)
        else:
            runs.append([found])
    return runs


def unexplained(imports: list[Import], modules: dict[str, Path]) -> list[Import]:
    """Function-level imports with no comment on their lines or the line above their run."""
    missing = []
    for run in _runs([i for i in imports if i.in_function]):
        comments = _comment_lines(modules[run[0].importer])
        lines = range(run[0].line - 1, max(i.end_line for i in run) + 1)
        if not comments.intersection(lines):
            missing += run
    return missing


# --- each module on its own, in a fresh interpreter ---------------------------------------

_IMPORT_EACH = """
import importlib, json, sys, traceback, warnings
import django

django.setup()
warnings.simplefilter("ignore")  # a re-imported models module warns that it reloads
package, names = sys.argv[1], json.loads(sys.argv[2])
failed = {}
for name in names:
    for loaded in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=-2)
print(json.dumps(failed))
"""


def failed_imports(package: str, names: list[str], path: Path = ROOT) -> dict[str, str]:
    """Module -> traceback, for each module that fails to import as the first module
    of `package` loaded: one interpreter, django.setup() once (tests.settings), then
    the package cleared from sys.modules before each module is imported."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(path), str(ROOT)])),
    }
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, package, json.dumps(names)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])
