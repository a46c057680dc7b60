"""The package tree is the map: imports go down the layers of the request path, never up.

Every ``import`` in the package (inside functions and ``TYPE_CHECKING`` blocks too) is checked
against the layer order below; a new module must belong to a layer before it can land.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "qwen_proxy"

#: top to bottom; a module may import its own layer and the layers below it
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "__main__"}),
    frozenset({"server"}),
    frozenset({"api"}),
    frozenset({"service"}),
    frozenset({"tools", "uploads"}),
    # keys: named client keys, their limits and usage (stores, like the two beside it)
    frozenset({"conversations", "accounts", "keys"}),
    # the upstream client drives the transport; both use the pure protocol modules below them
    frozenset({"qwen.client"}),
    frozenset({"qwen.transport"}),
    frozenset({"qwen"}),
    frozenset(
        {"config", "errors", "messages", "logs", "redis_client", "private_files", "__init__"}
    ),
)
#: peers in one layer that must still not import each other
SEPARATE = (
    ("conversations", "accounts"),
    ("conversations", "keys"),
    ("accounts", "keys"),
    ("tools", "uploads"),
)
#: the emulator stands alone: it imports only itself and the kernel
EMULATOR_MAY_IMPORT = frozenset({"emulator", "config", "errors"})


def component(module: str) -> str:
    """The layer name of a dotted module below qwen_proxy (``qwen.transport.wire`` -> its own)."""
    parts = module.split(".")
    if parts[0] == "qwen" and len(parts) > 1 and parts[1] in ("client", "transport"):
        return "qwen." + parts[1]
    return parts[0]


def rank(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise AssertionError(f"qwen_proxy.{name} belongs to no layer: add it to LAYERS")


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found.append((dotted, path))
    return found


def imported(path: Path, dotted: str) -> set[str]:
    """Modules below qwen_proxy that the file imports (relative imports resolved)."""
    names: set[str] = set()
    package = dotted.split(".")[:-1] if path.name != "__init__.py" else dotted.split(".")
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(["qwen_proxy", *base, *(node.module or "").split(".")])
                names.add(target.rstrip("."))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
    inside = set()
    for name in names:
        if name.startswith("qwen_proxy."):
            inside.add(name.removeprefix("qwen_proxy."))
    return inside


def violations() -> list[str]:
    known = {dotted for dotted, _ in modules()}
    packages = {d.rsplit(".", 1)[0] for d in known if d.endswith("__init__")}
    found = []
    for dotted, path in modules():
        here = component(dotted)
        for target in sorted(imported(path, dotted)):
            # "from qwen_proxy.qwen import errors": keep only names that are modules or packages
            if target not in known and target not in packages:
                continue
            there = component(target)
            if here == "emulator" or there == "emulator":
                if here == "emulator" and there not in EMULATOR_MAY_IMPORT:
                    found.append(f"{dotted} -> {target}: the emulator imports no gateway code")
                if there == "emulator" and here not in ("emulator", "cli"):
                    found.append(f"{dotted} -> {target}: only the CLI starts the emulator")
                continue
            if rank(there) < rank(here):
                found.append(f"{dotted} -> {target}: {here} is below {there}")
            for a, b in SEPARATE:
                if {here, there} == {a, b}:
                    found.append(f"{dotted} -> {target}: {a} and {b} stay independent")
    return found


def test_imports_go_down_the_layers_only() -> None:
    assert violations() == []


def test_every_module_belongs_to_a_layer() -> None:
    for dotted, _ in modules():
        name = component(dotted)
        if name != "emulator":
            rank(name)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("from qwen_proxy.api.app import App\nimport qwen_proxy.server.run\n")
    assert imported(source, "qwen.probe") == {"api.app", "api.app.App", "server.run"}
    assert rank(component("api.app")) < rank(component("qwen.probe"))
