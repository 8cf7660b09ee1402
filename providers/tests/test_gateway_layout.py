"""The gateway package's dependency rules, checked on the source (ARCHITECTURE.md "Layout"):

* `providers.gateway` imports nothing of Django's database layer (models, connections) and
  nothing from `providers.models`, `providers.services` or `providers.fields`: the token
  manager raises, the providers app decides what happens to a stored credential.
* No module imports another's private (`_name`) names, and no package `__init__` re-exports.
* No import cycle between the gateway's modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
FORBIDDEN = ("providers.models", "providers.services", "providers.fields", "django.db", "django.contrib")


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(GATEWAY.glob("*.py"))}


def _imports(tree: ast.Module) -> list[tuple[str, list[str], bool]]:
    """(absolute module, imported names, at module level) for every import in `tree`."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "providers.gateway" if node.level == 1 else "providers" if node.level == 2 else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.append((module, [alias.name for alias in node.names], id(node) in top))
    return found


@pytest.mark.parametrize("name", sorted(_modules()))
def test_gateway_module_imports_no_database_models_services_or_fields(name):
    for module, names, _ in _imports(_modules()[name]):
        targets = [module] + [f"{module}.{n}" for n in names]
        assert not any(t == f or t.startswith(f + ".") for t in targets for f in FORBIDDEN), (name, module, names)


def test_no_private_names_cross_modules_and_no_reexporting_init():
    modules = _modules()
    for name, tree in modules.items():
        for module, names, _ in _imports(tree):
            if module.startswith("providers"):
                assert not [n for n in names if n.startswith("_") and n != "__future__"], (name, module, names)
    init = modules["__init__"]
    assert all(isinstance(node, ast.Expr) for node in init.body), "providers/gateway/__init__.py is a docstring only"


def test_no_import_cycles_between_gateway_modules():
    graph: dict[str, set[str]] = {}
    for name, tree in _modules().items():
        deps = graph.setdefault(name, set())
        for module, names, _ in _imports(tree):
            if module == "providers.gateway":
                deps.update(n for n in names if (GATEWAY / f"{n}.py").exists())
            elif module.startswith("providers.gateway."):
                deps.add(module.split(".")[2])
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for dep in graph.get(node, ()):
            visit(dep, (*path, node))
        done.add(node)

    for name in graph:
        visit(name, ())
