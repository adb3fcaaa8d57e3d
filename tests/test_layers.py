"""The import-layer contract (shared/DESIGN.md, issue 12), and the one clock.

``scheduling`` is the domain core: it imports no web framework, no ``app`` and no
adapter. Each adapter (``worklist``, ``integrations.hl7``, ``integrations.fhir``,
``integrations.line``) imports ``scheduling`` (and its own libraries, Flask for the HTTP
ones) but never ``app`` and never another adapter; ``app`` is the composition root that
wires them together.

Two checks: every ``import`` statement in the source, wherever it stands (inside a
function or under ``TYPE_CHECKING`` too: a lazy import is still a dependency), and what
importing each package really loads, in a fresh interpreter (catches a rule broken
through a third module).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ADAPTERS = ("worklist", "integrations.hl7", "integrations.fhir", "integrations.line")
WEB = (
    "app",
    "flask",
    "flask_login",
    "flask_babel",
    "flask_wtf",
    "flask_sqlalchemy",
    "flask_migrate",
    "werkzeug",
)
# Password hashing is not web: scheduling/models/network.py hashes user passwords with it.
CORE_ALLOWED = ("werkzeug.security",)
# "integrations" alone is the adapters' namespace package (a docstring), not an adapter.
CORE_FORBIDDEN = (*WEB, "worklist", "integrations")


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def package_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for each import in the file; ``from a import b`` yields ``a.b``
    as well as ``a``, since ``b`` may be a module (``from integrations import hl7``)."""
    module = package_of(path)
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def owner(module: str) -> str | None:
    """Which layer a module of this project belongs to."""
    for adapter in ADAPTERS:
        if within(module, (adapter,)):
            return adapter
    for layer in ("scheduling", "app"):
        if within(module, (layer,)):
            return layer
    return None


def violations(layer: str) -> list[str]:
    top = ROOT.joinpath(*layer.split("."))
    found = []
    for path in sorted(top.rglob("*.py")):
        for line, module in imported_modules(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if layer == "scheduling":
                if within(module, CORE_FORBIDDEN) and not within(module, CORE_ALLOWED):
                    found.append(where)
            else:
                target = owner(module)
                if target == "app" or (target in ADAPTERS and target != layer):
                    found.append(where)
    return sorted(set(found))


@pytest.mark.parametrize("layer", ["scheduling", *ADAPTERS])
def test_source_imports_respect_the_layers(layer):
    assert violations(layer) == []


def loaded_after_import(packages: list[str]) -> set[str]:
    """Top-level names plus adapter packages in sys.modules after importing every module
    under ``packages`` in a fresh interpreter (so nothing the test session loaded counts)."""
    script = (
        "import importlib, pkgutil, sys\n"
        "for name in sys.argv[1:]:\n"
        "    pkg = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *packages],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_importing_the_core_loads_no_flask():
    """The check the issue names, verbatim."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import scheduling.booking, sys; assert 'flask' not in sys.modules",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_whole_core_loads_no_web_app_or_adapter():
    # werkzeug is left to the source check: its package __init__ (loaded by the allowed
    # werkzeug.security) imports its own web parts.
    forbidden = tuple(p for p in CORE_FORBIDDEN if p != "werkzeug")
    loaded = loaded_after_import(["scheduling"])
    assert sorted(m for m in loaded if within(m, forbidden)) == []


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_adapter_loads_neither_app_nor_another_adapter(adapter):
    loaded = loaded_after_import([adapter])
    assert sorted(m for m in loaded if owner(m) not in (None, "scheduling", adapter)) == []


# --- the one clock -------------------------------------------------------------------------
# Every "now" comes from scheduling/clock.py; only it reads the wall clock (its line says
# ``# clock-ok``). `make test-clock` proves it on the tested paths with faketime; this finds a
# read on any path. time.monotonic/perf_counter (stopwatches, not dates) are fine.
PRODUCT = ("scheduling", "worklist", "integrations", "app")
WALL_CLOCK_DATETIME = {"now", "utcnow", "today"}
WALL_CLOCK_TIME = {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime"}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def wall_clock_reads() -> list[str]:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source, str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                owner_name, attr = _name(node.func.value), node.func.attr
                reads = (
                    owner_name.split(".")[-1] in ("datetime", "date")
                    and attr in WALL_CLOCK_DATETIME
                ) or (owner_name == "time" and attr in WALL_CLOCK_TIME and not node.args)
                if reads and "clock-ok" not in lines[node.lineno - 1]:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner_name}.{attr}()")
    return found


def test_nothing_but_the_clock_reads_the_wall_clock():
    assert wall_clock_reads() == []
