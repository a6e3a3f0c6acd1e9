"""No import cycle in the repository's code, between folders or between modules: each folder and
each module can be read, tested and changed on top of what it imports, never around in a circle.

Imports are read with `ast`, wherever they are written (inside functions and TYPE_CHECKING blocks
too: a cycle that only a lazy import hides is still a cycle)."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from tests.conftest import ROOT

# Each folder with the package prefix its modules are imported under.
FOLDERS = {
    "local": ROOT / "local",
    "tools": ROOT / "tools",
    "benchmarks": ROOT / "benchmarks",
    "lms": ROOT / "layers" / "common" / "lms",
    "functions": ROOT / "functions",
}


def _modules() -> dict[str, tuple[str, Path]]:
    """Module name -> (its folder, its file)."""
    modules: dict[str, tuple[str, Path]] = {}
    for folder, path in FOLDERS.items():
        for file in path.rglob("*.py"):
            parts = file.relative_to(path).with_suffix("").parts
            name = ".".join((folder, *parts)).removesuffix(".__init__")
            modules[name] = (folder, file)
    return modules


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement of `tree` names (resolved relative imports included)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + int(is_package)]
                base = ".".join([*anchor, base] if base else anchor)
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return names


def _known(name: str, modules: dict[str, tuple[str, Path]]) -> str | None:
    """The longest prefix of `name` that is one of our modules (a name may end in a class or function)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def _graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    module_graph: dict[str, set[str]] = {name: set() for name in modules}
    folder_graph: dict[str, set[str]] = {folder: set() for folder in FOLDERS}
    for name, (folder, file) in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        for imported in _imported(tree, name, file.name == "__init__.py"):
            target = _known(imported, modules)
            if target is None or target == name:
                continue
            module_graph[name].add(target)
            if modules[target][0] != folder:
                folder_graph[folder].add(modules[target][0])
    return module_graph, folder_graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        cycle: list[str] = error.args[1]
        return cycle
    return []


def test_no_folder_imports_a_folder_that_imports_it_back() -> None:
    _, folders = _graphs()

    assert _cycle(folders) == [], folders


def test_the_local_runtime_builds_on_tools_and_never_the_other_way() -> None:
    """tools/ holds what AWS does that both need (template reading, event patterns, stream records);
    an operator tool such as tools/redrive.py must run without the local runtime."""
    _, folders = _graphs()

    assert "tools" in folders["local"]
    assert "local" not in folders["tools"]


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    modules, _ = _graphs()

    assert _cycle(modules) == []


def test_the_graph_reader_sees_a_cycle() -> None:
    assert set(_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == {"a", "b", "c"}
