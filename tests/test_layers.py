"""Every import points down: the layer order of ``edgecam/`` and ``deploy/``, written once (``LAYERS``).

The imports of every module are read with ``ast`` — those at the top, inside functions (lazy ones) and
under ``TYPE_CHECKING`` alike, plus plugin registrations (``"edgecam.sources.images:ImageFolderSource"``,
imported by ``importlib``) — and the test fails on an import that runs up the layers, on a module that
sits in no layer, and on any import cycle.  Modules of one layer may import each other, but not in a
circle.  The checker itself is tested on synthetic trees, so a planted upward import must fail it.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Top to bottom: a module may import its own layer (without a cycle) and every layer below it.
# A module belongs to the layer of its longest listed prefix (a package covers its submodules), except
# that the bare ``edgecam`` (the package's face: ``__version__``) covers only itself.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("deploy",),  # the workstation's model pipeline: may reuse edgecam, never the reverse
    ("edgecam.__main__", "edgecam.cli", "edgecam.cliargs"),
    ("edgecam.evaluation",),  # accuracy and speed measurement (runs the daemon's parts)
    ("edgecam.app",),  # the only place that picks concrete plugins
    ("edgecam.config",),  # composes the plugins' settings: schema, loader, preflight, check
    ("edgecam.runtime",),
    ("edgecam.publishers", "edgecam.web"),
    ("edgecam.sources", "edgecam.detectors", "edgecam.tracking", "edgecam.events"),
    ("edgecam.bundles", "edgecam.render"),
    ("edgecam", "edgecam.domain", "edgecam.errors", "edgecam.limits", "edgecam.files", "edgecam.records", "edgecam.jsonlimits", "edgecam.warnlimit",
     "edgecam.fields", "edgecam.names", "edgecam.secrets", "edgecam.confidence", "edgecam.controls", "edgecam.redact",
     "edgecam.latency",
     "edgecam.plugins", "edgecam.known_models", "edgecam.identity"),  # the ground floor (known_models: the pinned model hashes)
)
PACKAGES = ("edgecam", "deploy")

_TARGET = re.compile(r"^((?:edgecam|deploy)(?:\.\w+)+):\w+$")  # "module:Attribute" plugin registrations


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` of the scanned packages under ``root``."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` (a module, or a module's attribute) names."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module of the tree, line) for every import in ``path``, wherever it stands."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names]  # resolves to ``base`` when the name is no module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _TARGET.match(node.value)
            names = [match.group(1)] if match else []
        for name in names:
            target = _resolve(name, known)
            if target is not None and target != module:
                found.append((target, node.lineno))
    return found


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            covers = module == prefix or (prefix != "edgecam" and module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_problems(root: Path) -> list[str]:
    """One line per upward import, module in no layer, and import cycle under ``root``; empty when clean."""
    known = modules(root)
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        where = path.relative_to(root)
        mine = layer_of(module)
        if mine is None:
            problems.append(f"{where}: {module} is in no layer; add it to LAYERS in tests/test_layers.py")
            continue
        for target, line in imports(module, path, known):
            graph.setdefault(module, set()).add(target)
            theirs = layer_of(target)
            if theirs is not None and theirs < mine:
                problems.append(f"{where}:{line}: {module} imports {target}, a higher layer; "
                                f"move the shared piece down or pass it in from above")
    for cycle in _cycles(graph):
        problems.append(f"import cycle: {' <-> '.join(cycle)}; move what they share into a module below both")
    return problems


# ------------------------------------------------------------------------------------------ the tree
def test_every_import_points_down():
    assert layer_problems(REPO) == []


def test_the_scan_sees_the_tree():
    """The checker reads real imports: app imports config, and a plugin registration is an edge."""
    known = modules(REPO)
    assert {"edgecam.app", "edgecam.config.loader", "deploy.pipeline", "edgecam"} <= set(known)
    app = {t for t, _ in imports("edgecam.app", known["edgecam.app"], known)}
    assert {"edgecam.config.schema", "edgecam.controls", "edgecam.runtime.pipeline"} <= app
    assert layer_of("edgecam.app") < layer_of("edgecam.config.loader") < layer_of("edgecam.fields")


# ------------------------------------------------------------------------------- the checker itself
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_planted_upward_import_fails(tmp_path):
    """A copy of the real tree with one lazy upward import (the ground floor reaching for the app)."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    assert layer_problems(tmp_path) == []
    fields = tmp_path / "edgecam" / "fields.py"
    fields.write_text(fields.read_text() + "\n\ndef later():\n    from edgecam.app import run_daemon\n")
    problems = layer_problems(tmp_path)
    assert problems[0].startswith("edgecam/fields.py:") and "imports edgecam.app, a higher layer" in problems[0]
    assert len(problems) == 2 and problems[1].startswith("import cycle: edgecam.app <-> ")  # app reaches fields


def test_upward_imports_of_every_form_fail(tmp_path):
    root = _tree(tmp_path, {
        "edgecam/__init__.py": "",
        "edgecam/app.py": "",
        "edgecam/domain.py": "",
        "edgecam/sources/__init__.py": "",
        "edgecam/sources/base.py": "REGISTRY = {'x': 'edgecam.runtime.capture:CaptureThread'}\n",
        "edgecam/runtime/__init__.py": "",
        "edgecam/runtime/capture.py": "from edgecam import domain\n",
        "edgecam/detectors/__init__.py": "",
        "edgecam/detectors/a.py": "import edgecam.app\n",
        "edgecam/detectors/b.py": "def f():\n    from ..runtime import capture\n",
        "edgecam/tracking/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                        "    from edgecam.config.schema import Settings\n",
        "edgecam/config/__init__.py": "",
        "edgecam/config/schema.py": "from edgecam.sources import base\nfrom edgecam.domain import Frame\n",
    })
    problems = layer_problems(root)
    assert [p.split(":")[0] for p in problems] == [
        "edgecam/detectors/a.py", "edgecam/detectors/b.py", "edgecam/sources/base.py", "edgecam/tracking/__init__.py"]
    assert "edgecam/detectors/b.py:2: edgecam.detectors.b imports edgecam.runtime.capture" in problems[1]


def test_cycles_and_unplaced_modules_fail(tmp_path):
    root = _tree(tmp_path, {
        "edgecam/__init__.py": "",
        "edgecam/sources/__init__.py": "",
        "edgecam/sources/a.py": "from edgecam.sources.b import X\n",
        "edgecam/sources/b.py": "def f():\n    from edgecam.sources import a\n",
        "edgecam/sources/c.py": "from edgecam.sources import b\n",
        "edgecam/gadget.py": "",
        "deploy/__init__.py": "",
        "deploy/one.py": "from . import two\n",
        "deploy/two.py": "from deploy.one import thing\n",
    })
    problems = layer_problems(root)
    assert "edgecam/gadget.py: edgecam.gadget is in no layer; add it to LAYERS in tests/test_layers.py" in problems
    cycles = sorted(p for p in problems if p.startswith("import cycle"))
    assert cycles[0].startswith("import cycle: deploy.one <-> deploy.two;")
    assert cycles[1].startswith("import cycle: edgecam.sources.a <-> edgecam.sources.b;")
    assert len(problems) == 3
