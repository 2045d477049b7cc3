"""The layers of the package, checked on the source: imports point down, no cycles.

Bottom to top (docs/architecture.md draws them):

0. ``kasper.schemas``: the Avro contracts and the codec;
1. ``kasper.streams``: Kafka plumbing, settings, logs, metrics (not ``streams.cli``);
2. ``kasper.agents.runtime``, ``.quality``, ``.judging``: the model runtime, the
   quality code, the judge client;
3. the roles (``kasper.agents.generate``, ``grade``, ``judge``, ``route`` and their
   plain logic) and ``kasper.trainer``, which never import each other;
4. ``kasper.streams.cli``: the application shell.

A module imports from its own layer or a lower one. An import inside a function
is allowed only with a comment just before it saying why (start-up cost),
never to dodge a cycle.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {}
    for package, folder in config["package-dir"].items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def layer(module: str) -> int:
    if module.startswith("kasper.streams.cli"):
        return 4
    if module.startswith(("kasper.agents.runtime", "kasper.agents.quality", "kasper.agents.judging")):
        return 2
    if module.startswith(("kasper.agents", "kasper.trainer")):
        return 3
    if module.startswith("kasper.streams"):
        return 1
    if module.startswith("kasper.schemas"):
        return 0
    raise AssertionError(f"{module} is in no layer")


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[ast.stmt, str, bool]]:
    """(node, imported kasper module, inside a function) for every import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    in_function = {id(sub) for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for sub in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            target = _resolve(name) if name.startswith("kasper") else None
            if target and target != module:
                found.append((node, target, id(node) in in_function))
                break
    return found


ROLES = ("kasper.agents.generate", "kasper.agents.generation", "kasper.agents.grade",
         "kasper.agents.judge", "kasper.agents.route")


def test_every_package_folder_is_installed():
    """A folder with an __init__.py that pyproject does not list is left out of a built wheel
    (an editable install, as in the tests, would still find it)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {package: ROOT / folder for package, folder in config["package-dir"].items()}
    found = {".".join([package, *init.parent.relative_to(folder).parts])
             for package, folder in folders.items() for init in folder.rglob("__init__.py")}
    assert found - set(config["packages"]) == set(), sorted(found - set(config["packages"]))


def test_every_module_is_in_a_layer():
    assert len(MODULES) > 50
    for module in MODULES:
        layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    for node, target, _ in _imports(module):
        assert layer(target) <= layer(module), (
            f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)}) "
            f"at line {node.lineno}")
        if module.startswith("kasper.trainer"):
            assert not target.startswith(ROLES), f"the trainer imports the role {target}"
        if module.startswith(ROLES):
            assert not target.startswith("kasper.trainer"), f"the role {module} imports {target}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_in_functions_say_why(module):
    lines = MODULES[module].read_text().splitlines()
    for node, target, inside in _imports(module):
        if not inside:
            continue
        # The comment may stand on the import's line or on one of the three lines before it
        # (above an ``if`` that chooses between deferred imports).
        window = lines[max(0, node.lineno - 4):node.lineno]
        assert any(line.strip().startswith("#") for line in window[:-1]) or "#" in window[-1], (
            f"{module}:{node.lineno} imports {target} inside a function without a comment saying why")


def test_no_import_cycles():
    graph = {m: {t for _, t, _ in _imports(m)} for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The checks above can fail: an upward import and a cycle in a fake tree are found."""
    fake = {"kasper.streams.a": tmp_path / "a.py", "kasper.streams.b": tmp_path / "b.py",
            "kasper.streams.cli.x": tmp_path / "x.py"}
    fake["kasper.streams.a"].write_text("from kasper.streams.cli.x import y\nimport kasper.streams.b\n")
    fake["kasper.streams.b"].write_text("def f():\n    from kasper.streams import a\n")
    fake["kasper.streams.cli.x"].write_text("y = 1\n")
    monkeypatch.setitem(globals(), "MODULES", fake)
    with pytest.raises(AssertionError, match="layer 4"):
        test_imports_point_down("kasper.streams.a")
    with pytest.raises(AssertionError, match="without a comment"):
        test_imports_in_functions_say_why("kasper.streams.b")
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycles()
