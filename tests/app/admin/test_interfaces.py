"""Admin → ระบบภายนอก and the CLI: FHIR API clients (token shown once, stored hashed,
rotate, revoke, scopes), HL7 senders and scanner addresses; every change audited."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.fhir.clients import allows, parse_scopes
from integrations.fhir.models import ApiClient
from integrations.hl7.models import Hl7Sender
from scheduling.errors import ValidationFailed
from scheduling.models import AuditEvent, Device
from tests.app.hub.factories import hospital
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[3]
TOKEN = re.compile(r'value="(rbk_[A-Za-z0-9_-]{40,})"')


@pytest.fixture
def admin(client, demo):
    login(client, "admin")
    return client


def _html(response) -> str:
    return response.get_data(as_text=True)


def _fhir(client, token: str, path: str = "Patient", method: str = "GET", body=None):
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {token}"}
    if method == "GET":
        return client.get(f"/fhir/{path}", headers=headers)
    return client.post(
        f"/fhir/{path}",
        data=body,
        headers={**headers, "Content-Type": "application/fhir+json"},
    )


def _audit(db, prefix: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
    ).all()


def _new_client(admin, **overrides) -> tuple[ApiClient, str]:
    data = {
        "hospital_id": hospital("11005").id,
        "name": "HIS รพ.โกสุมพิสัย",
        "can_read": "y",
        "can_create": "y",
        "more_scopes": "",
        **overrides,
    }
    response = admin.post("/admin/interfaces/api-clients/new", data=data)
    assert response.status_code == 200
    html = _html(response)
    token = TOKEN.search(html).group(1)
    from app.extensions import db

    client = db.session.scalar(select(ApiClient).where(ApiClient.name == data["name"]))
    return client, token


def test_the_page_is_thai_and_lists_clients_senders_and_scanners(admin):
    html = _html(admin.get("/admin/interfaces"))
    assert "ระบบภายนอก" in html
    assert "demo-his-kudrang" in html and "HIS รพ.กุดรัง" in html and "MKH_US1" in html
    assert "127.0.0.1" in html


@pytest.mark.parametrize("username", ["scheduler.mkh", "staff.kudrang"])
def test_only_admins(client, demo, username):
    login(client, username)
    assert client.get("/admin/interfaces").status_code == 403
    assert client.post("/admin/interfaces/api-clients/new", data={}).status_code == 403


def test_create_shows_the_token_once_and_keeps_only_its_hash(admin, db):
    client, token = _new_client(admin)
    assert client.token_sha256 == ApiClient.hash_token(token)
    assert client.token_prefix == token[:8] and client.scopes == "system/*.crs"
    row = db.session.execute(select(ApiClient.__table__).where(ApiClient.id == client.id)).one()
    assert all(token not in str(value) for value in row)
    # The list shows the prefix only.
    listing = _html(admin.get("/admin/interfaces"))
    assert token[:8] in listing and token not in listing
    # The token works, for its hospital.
    assert _fhir(admin, token).status_code == 200
    [event] = _audit(db, "fhir.client.")
    assert event.action == "fhir.client.create" and token not in str(event.detail)
    assert event.detail["token_prefix"] == token[:8]


def test_rotate_stops_the_old_token_and_revoke_stops_the_new(admin, db):
    client, first = _new_client(admin)
    response = admin.post(f"/admin/interfaces/api-clients/{client.id}/rotate")
    second = TOKEN.search(_html(response)).group(1)
    assert second != first
    assert _fhir(admin, first).status_code == 401
    assert _fhir(admin, second).status_code == 200
    revoked = admin.post(f"/admin/interfaces/api-clients/{client.id}/revoke")
    assert revoked.status_code == 302
    assert _fhir(admin, second).status_code == 401
    db.session.expire_all()
    assert not db.session.get(ApiClient, client.id).is_enabled
    actions = [e.action for e in _audit(db, "fhir.client.")]
    assert actions == ["fhir.client.create", "fhir.client.rotate", "fhir.client.revoke"]
    # Rotating a revoked client lets it in again with a new token only.
    third = TOKEN.search(
        _html(admin.post(f"/admin/interfaces/api-clients/{client.id}/rotate"))
    ).group(1)
    assert _fhir(admin, third).status_code == 200 and _fhir(admin, second).status_code == 401


def test_scopes_limit_what_the_token_may_do(admin, db):
    reader, token = _new_client(admin, can_create="", name="PACS reader")
    assert reader.scopes == "system/*.rs"
    assert _fhir(admin, token, "ServiceRequest").status_code == 200
    denied = _fhir(admin, token, "ServiceRequest", "POST", '{"resourceType": "ServiceRequest"}')
    assert denied.status_code == 403
    assert "insufficient-scope" in _html(denied) and "สร้าง" in _html(denied)
    patients_only, token2 = _new_client(
        admin, can_read="", can_create="", more_scopes="system/Patient.rs", name="MPI"
    )
    assert _fhir(admin, token2, "Patient").status_code == 200
    assert _fhir(admin, token2, "Appointment").status_code == 403
    assert "fhir.denied" in [e.action for e in _audit(db, "fhir.denied")]
    # Changing the scopes in the admin takes effect on the next request.
    response = admin.post(
        f"/admin/interfaces/api-clients/{patients_only.id}",
        data={"name": "MPI", "can_read": "y", "more_scopes": ""},
    )
    assert response.status_code == 302
    assert _fhir(admin, token2, "Appointment").status_code == 200
    [update] = _audit(db, "fhir.client.update")
    assert update.detail["changes"]["scopes"] == ["system/Patient.rs", "system/*.rs"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"more_scopes": "patient/*.read"}, "more_scopes"),
        ({"more_scopes": "system/Nonsense.rs"}, "more_scopes"),
        ({"can_read": "", "can_create": ""}, "more_scopes"),
        ({"name": "demo-his-kudrang"}, "name"),
    ],
)
def test_bad_client_forms_are_refused_beside_the_field(admin, db, overrides, field):
    data = {
        "hospital_id": hospital("11005").id,
        "name": "X",
        "can_read": "y",
        "can_create": "y",
        **overrides,
    }
    response = admin.post("/admin/interfaces/api-clients/new", data=data)
    assert response.status_code == 200
    html = _html(response)
    assert f'id="{field}-error"' in html and "rbk_" not in html
    assert db.session.scalar(select(ApiClient).where(ApiClient.name == "X")) is None


def test_scope_parsing():
    assert parse_scopes("system/*.read system/ServiceRequest.c") == (
        "system/*.rs system/ServiceRequest.c"
    )
    assert parse_scopes("system/*.write, system/*.read") == "system/*.cruds"
    assert allows("system/*.rs", "Patient", "s") and not allows("system/*.rs", "Patient", "c")
    assert allows("system/Patient.c", "Patient", "c")
    assert not allows("system/Patient.c", "ServiceRequest", "c")
    for bad in ("user/*.rs", "system/*.x", "system/*", "", "system/patient.rs"):
        with pytest.raises(ValidationFailed):
            parse_scopes(bad)


# -- HL7 senders and scanners ------------------------------------------------------------


def test_hl7_sender_add_edit_remove_in_the_admin(admin, db):
    data = {
        "hospital_id": hospital("11005").id,
        "name": "HIS HOSxP",
        "addresses": "10.7.1.20 10.7.2.0/24",
        "is_enabled": "y",
    }
    assert admin.post("/admin/interfaces/hl7-senders/new", data=data).status_code == 302
    sender = db.session.scalar(select(Hl7Sender).where(Hl7Sender.name == "HIS HOSxP"))
    assert sender.addresses == "10.7.1.20 10.7.2.0/24"
    bad = admin.post(
        f"/admin/interfaces/hl7-senders/{sender.id}", data={**data, "addresses": "10.7.1.999"}
    )
    assert bad.status_code == 200 and 'id="addresses-error"' in _html(bad)
    assert "ไม่ใช่ที่อยู่ IP" in _html(bad)
    ok = admin.post(
        f"/admin/interfaces/hl7-senders/{sender.id}", data={**data, "addresses": "10.7.1.21"}
    )
    assert ok.status_code == 302
    assert admin.post(f"/admin/interfaces/hl7-senders/{sender.id}/remove").status_code == 302
    assert admin.post(f"/admin/interfaces/hl7-senders/{sender.id}/remove").status_code == 404
    events = _audit(db, "hl7.sender.")
    assert [e.action for e in events] == [
        "hl7.sender.create",
        "hl7.sender.update",
        "hl7.sender.remove",
    ]
    assert events[1].detail["changes"]["addresses"] == ["10.7.1.20 10.7.2.0/24", "10.7.1.21"]
    assert all(e.user_id is not None for e in events)


def _device_form(device: Device, **overrides):
    data = {
        "hospital_id": device.hospital_id,
        "modality_code": device.modality_code,
        "name": device.name,
        "ae_title": device.ae_title,
        "station_name": device.station_name or "",
        "room_th": device.room_th,
        "room_en": device.room_en,
        "charset": device.charset.name,
        "mwl_filter_by_calling_ae": "y",
        "is_active": "y",
        **overrides,
    }
    return data


def test_scanner_addresses_in_the_device_form(admin, db):
    device = db.session.scalar(select(Device).where(Device.ae_title == "MKH_US1"))
    bad = admin.post(
        f"/admin/devices/{device.id}",
        data=_device_form(device, allowed_addresses="scanner.local"),
    )
    assert bad.status_code == 200 and 'id="allowed_addresses-error"' in _html(bad)
    ok = admin.post(
        f"/admin/devices/{device.id}",
        data=_device_form(device, allowed_addresses="10.7.3.21, 10.7.4.0/28 10.7.3.21"),
    )
    assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(Device, device.id).allowed_addresses == "10.7.3.21 10.7.4.0/28"
    [event] = _audit(db, "admin.device.update")
    assert event.detail["changes"]["allowed_addresses"] == ["127.0.0.1", "10.7.3.21 10.7.4.0/28"]
    # Any address is flagged, no address too.
    admin.post(f"/admin/devices/{device.id}", data=_device_form(device, allowed_addresses=""))
    assert "เชื่อมต่อไม่ได้" in _html(admin.get("/admin/devices"))


# -- the CLI -----------------------------------------------------------------------------


def test_cli_add_prints_only_the_token_on_stdout(app, demo, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-client", "add", "--hospital", "10707", "--name", "PACS"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("rbk_") and "\n" not in token
    assert _fhir(client, token).status_code == 200
    listed = runner.invoke(args=["api-client", "list"]).output
    line = next(x for x in listed.splitlines() if x.endswith("\tPACS"))
    client_id = line.split("\t")[0]
    assert token[:8] in line and token not in listed
    assert runner.invoke(args=["api-client", "revoke", client_id]).exit_code == 0
    assert _fhir(client, token).status_code == 401
    rotated = runner.invoke(args=["api-client", "rotate", client_id])
    assert rotated.exit_code == 0 and _fhir(client, rotated.stdout.strip()).status_code == 200
    actions = [e.action for e in _audit(demo, "fhir.client.")]
    assert actions == ["fhir.client.create", "fhir.client.revoke", "fhir.client.rotate"]


@pytest.mark.parametrize(
    "args",
    [
        ["--hospital", "99999", "--name", "X"],
        ["--hospital", "10707", "--name", "demo-his-kudrang"],
        ["--hospital", "10707", "--name", "X", "--scope", "user/*.read"],
    ],
)
def test_cli_add_refusals(app, demo, args):
    result = app.test_cli_runner().invoke(args=["api-client", "add", *args])
    assert result.exit_code == 1 and "Error" in result.output and "rbk_" not in result.output


def test_cli_revoke_unknown(app, demo):
    result = app.test_cli_runner().invoke(args=["api-client", "revoke", "4242"])
    assert result.exit_code == 1 and "4242" in result.output


def test_api_client_add_from_a_fresh_database(tmp_path):
    """What a deployment script does: a new database, `db upgrade`, a hospital, then
    `api-client add` in a real process; its stdout is the token."""
    database = tmp_path / "fresh.sqlite"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": "x" * 64,
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )

    before = run("api-client", "add", "--hospital", "11008", "--name", "HIS")
    assert before.returncode == 1 and "db upgrade" in before.stderr
    assert run("db", "upgrade").returncode == 0
    none_yet = run("api-client", "add", "--hospital", "11008", "--name", "HIS")
    assert none_yet.returncode == 1 and "11008" in none_yet.stderr
    code = (
        "from app import create_app\n"
        "from app.demo import load_network\n"
        "from app.extensions import db\n"
        "with create_app().app_context():\n"
        "    load_network(); db.session.commit()\n"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env).returncode == 0
    added = run("api-client", "add", "--hospital", "11008", "--name", "HIS")
    assert added.returncode == 0, added.stderr
    assert re.fullmatch(r"rbk_[A-Za-z0-9_-]{43}\n", added.stdout)
    assert "shown once" in added.stderr
    listed = run("api-client", "list")
    assert "\t11008\tenabled\t" + added.stdout[:8] in listed.stdout
