"""No import cycles inside the web adapter (``app``), function-level imports included:
the blueprints live in their routes modules, the hub's actions and capacity pages add
their views to ``app.hub.routes.bp``, and the session timeouts audit without importing
the login views (the cycle finder is the core's, ``tests/scheduling``)."""

from __future__ import annotations

from pathlib import Path

import app
from tests.scheduling.test_import_cycles import _cycles, _imports

ROOT = Path(app.__file__).parent


def _module(path: Path) -> str:
    parts = ["app", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_web_adapter_has_no_import_cycles():
    paths = {_module(p): p for p in ROOT.rglob("*.py")}
    graph = {m: _imports(p, m, set(paths)) for m, p in paths.items()}
    # The two cycles issue 12 named, now one way each.
    assert "app.webkit.views" in graph["app.security"]
    assert "app.auth.routes" not in graph["app.security"]
    assert "app.hub.routes" in graph["app.hub.actions"]
    assert "app.hub.actions" not in graph["app.hub.routes"]
    assert _cycles(graph) == []
