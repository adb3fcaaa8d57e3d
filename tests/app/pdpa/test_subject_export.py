"""The data-subject export: everything about one patient, nothing about another, audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from integrations.line.models import LineAccount
from scheduling.models import AuditEvent
from tests.app.pdpa.conftest import footprint
from tests.conftest import login

SECTIONS_FROM_TABLES = {
    "hospital_numbers",
    "requests",
    "appointments",
    "studies",
    "mpps",
    "pacs_checks",
    "line_links",
    "line_accounts",
    "line_link_codes",
    "line_messages",
    "line_replies",
    "hl7_received",
    "hl7_sent",
    "audit_events",
}


def test_export_holds_every_table_of_the_patient_and_nothing_of_another(app, client, demo):
    at = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    # (Not สมศรี: the demo links her to a LINE user already.)
    other = footprint("กัญญารัตน์", at)
    mine = footprint("บุญเลิศ", at, others=[other.patient.id])
    patient = mine.patient
    login(client, "admin")

    response = client.post("/admin/privacy/export", data={"identifier": patient.id_value})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    assert patient.id_value not in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    data = json.loads(text)

    assert data["patient"]["id_value"] == patient.id_value
    assert data["patient"]["given_name_th"] == "บุญเลิศ"
    empty = [s for s in SECTIONS_FROM_TABLES if not data[s]]
    assert not empty, f"sections without this patient's rows: {empty}"
    assert [r["id"] for r in data["requests"]] == [mine.request_id]
    assert [r["id"] for r in data["appointments"]] == [mine.appointment_id]
    for section, table in (
        ("studies", "study"),
        ("mpps", "mpps_instance"),
        ("line_links", "line_patient_link"),
        ("line_link_codes", "line_link_code"),
        ("line_messages", "line_outbox"),
        ("line_replies", "line_patient_reply"),
        ("hl7_received", "hl7_inbound_message"),
        ("hl7_sent", "hl7_outbox_message"),
        ("line_accounts", "line_account"),
    ):
        assert [r["id"] for r in data[section]] == [mine.ids[table]], section
    # Every row that names a patient names this one.
    for section in SECTIONS_FROM_TABLES:
        for row in data[section]:
            if row.get("patient_id") is not None:
                assert row["patient_id"] == patient.id, section
    # Nothing of the other patient: not their ID, name, HN, LINE user or rows.
    them = other.patient
    for mark in (them.id_value, them.given_name_th, them.hospital_numbers[0].hn):
        assert mark not in text
    assert demo.session.get(LineAccount, other.ids["line_account"]).line_user_id not in text
    # The list event that named both keeps who/when/what, not what it showed of the other.
    listed = [e for e in data["audit_events"] if e["action"] == "worklist.find"]
    assert listed and listed[0]["detail"] is None

    # The export is itself in the audit trail, about this patient.
    demo.session.rollback()
    event = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.export"))
    assert event.patient_id == patient.id and event.actor == "admin"
    assert event.detail["sections"]["requests"] == 1


def test_an_unknown_or_ambiguous_identifier_is_refused_beside_the_field(client, demo):
    login(client, "admin")
    response = client.post("/admin/privacy/export", data={"identifier": "1234567890121"})
    assert response.status_code == 422
    assert 'id="identifier-error"' in response.get_data(as_text=True)


def test_only_admins_may_export(app, demo):
    client = app.test_client()
    login(client, "scheduler.mkh")
    assert client.post("/admin/privacy/export", data={"identifier": "x"}).status_code == 403
