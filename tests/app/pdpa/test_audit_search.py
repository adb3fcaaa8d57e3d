"""Admins find everything that happened to one patient: by national ID or HN, POSTed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scheduling.audit import Actor, record, record_read
from scheduling.models import AuditEvent, Interface, Patient, PatientHN
from tests.conftest import login


@pytest.fixture
def admin(client, demo):
    login(client, "admin")
    return client


def _patients(db) -> tuple[Patient, Patient, Patient]:
    rows = db.session.scalars(select(Patient).order_by(Patient.id)).all()
    return rows[0], rows[1], rows[2]


@pytest.fixture
def trail(demo):
    """Events about patient A through several interfaces, one about B, one list of A and C."""
    a, b, c = _patients(demo)
    # The day before the suite's "today", when the demo registered its patients.
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    record(Actor(Interface.HL7, name="HOSXP"), "request.create", at, entity=a)
    record(Actor(Interface.DICOM, name="MKH_US1"), "worklist.find", at, patient_id=a.id)
    record(Actor(Interface.WEB, name="x"), "request.view", at, entity=b)
    record_read(Actor(Interface.LINE, name="push"), "line.send", at, [a.id, c.id])
    # A FHIR search by identifier keeps its query, with the full ID, in the database.
    record(
        Actor(Interface.FHIR, name="his"),
        "fhir.search",
        at,
        query=f"identifier={a.id_value}",
        patient_ids=[a.id],
    )
    demo.session.commit()
    return a, b, c


def _actions(html: str) -> set[str]:
    return {
        a for a in ("request.create", "worklist.find", "request.view", "line.send") if a in html
    }


def test_search_by_national_id_finds_every_interface_and_lists_naming_the_patient(
    admin, demo, trail
):
    a, b, c = trail
    html = admin.post("/admin/audit", data={"patient": a.id_value}).get_data(as_text=True)
    assert _actions(html) == {"request.create", "worklist.find", "line.send"}
    assert "fhir.search" in html and "identifier=x-xxxx-xxxxx-" in html  # masked in the list
    assert a.id_value not in html.split("</form>")[1]
    # The search itself is recorded, naming the patient searched for.
    demo.session.rollback()
    searched = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.search"))
    assert searched.patient_id == a.id and searched.actor == "admin"


def test_search_by_hn_and_with_other_filters(admin, demo, trail):
    a, b, c = trail
    hn = demo.session.scalar(select(PatientHN.hn).where(PatientHN.patient_id == b.id))
    html = admin.post("/admin/audit", data={"patient": hn.lower()}).get_data(as_text=True)
    assert _actions(html) == {"request.view"}
    html = admin.post(
        "/admin/audit",
        data={
            "patient": a.id_value,
            "interface": "DICOM",
            "date_from": "20/11/2569",
            "date_to": "20/11/2569",
        },
    ).get_data(as_text=True)
    assert _actions(html) == {"worklist.find"}


def test_an_unknown_patient_says_so_and_a_patient_in_the_url_is_ignored(admin, demo, trail):
    a, b, c = trail
    html = admin.post("/admin/audit", data={"patient": "1234567890121"}).get_data(as_text=True)
    assert 'id="patient-error"' in html and not _actions(html)
    # Never read from a URL: the query string's patient is dropped, not applied.
    # (The day of the trail only: the demo's own events of load day fill the first page.)
    html = admin.get(
        f"/admin/audit?patient={a.id_value}&date_from=20/11/2569&date_to=20/11/2569"
    ).get_data(as_text=True)
    assert _actions(html) == {"request.create", "worklist.find", "request.view", "line.send"}
    assert a.id_value not in html


def test_csv_export_of_a_patients_trail_names_patients_by_number_only(admin, demo, trail):
    a, b, c = trail
    response = admin.post(
        "/admin/audit.csv",
        data={
            "patient": a.id_value,
            "date_to": "20/11/2569",  # the trail's day, not the demo's registrations
        },
    )
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert {r["action"] for r in rows} == {
        "request.create",
        "worklist.find",
        "line.send",
        "fhir.search",
    }
    by_action = {r["action"]: r for r in rows}
    assert by_action["worklist.find"]["patient_ids"] == str(a.id)
    assert by_action["line.send"]["patient_ids"] == f"{min(a.id, c.id)} {max(a.id, c.id)}"
    assert {r["interface"] for r in rows} == {"hl7", "dicom", "line", "fhir"}
    body = response.get_data(as_text=True)
    assert a.id_value not in body
    demo.session.rollback()
    exported = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.export"))
    assert exported.patient_id == a.id
