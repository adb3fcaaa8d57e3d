"""Start-up loads only what every process uses (issue 19): a restart after a crash should
not wait for SDKs the process may never call, nor for a password hash (not timed: what
is imported and computed is counted instead)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Loaded on first use by the code that needs them (the LINE webhook, the FHIR API, the
# PACS queries, the `flask db` commands, the region workbook), never by `import wsgi`.
DEFERRED = (
    "linebot",
    "fhir.resources",
    "fhir_core",
    "pydicom",
    "pynetdicom",
    "alembic",
    "openpyxl",
    "zxcvbn",  # a password change builds its dictionaries
    "segno",  # an appointment slip draws its QR code
)

PROBE = """
import hashlib, json, sys
calls = []
real = hashlib.scrypt
def counting(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)
hashlib.scrypt = counting
import wsgi
deferred = json.loads(sys.argv[1])
print(json.dumps({
    "loaded": sorted(m for m in deferred if m in sys.modules),
    "scrypt": len(calls),
    "migrate": type(wsgi.app.extensions["migrate"]).__name__,
}))
"""


def _start() -> dict:
    import json

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(DEFERRED)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_wsgi_loads_no_adapter_sdk_and_hashes_nothing():
    seen = _start()
    assert seen["loaded"] == []
    assert seen["scrypt"] == 0
    assert seen["migrate"] == "_PendingMigrate"


def test_the_deferred_migration_extension_becomes_flask_migrates_on_use(app):
    from flask_migrate import Migrate

    with app.app_context():
        config = app.extensions["migrate"]
        assert config.directory.endswith("migrations")
        assert isinstance(app.extensions["migrate"].migrate, Migrate)
        assert app.extensions["migrate"].configure_args["render_as_batch"] is True
