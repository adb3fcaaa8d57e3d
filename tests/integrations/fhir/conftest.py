"""FHIR test helpers: token-carrying clients and rows made through the models."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from integrations.fhir.models import ApiClient
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    RequestStatus,
    Study,
    StudySource,
)

KUDRANG, KOSUM, MKH = "11008", "11005", "10707"
DEMO_TOKEN = "demo-his-token"
HUB_TOKEN = "mkh-pacs-token"
KOSUM_TOKEN = "kosum-his-token"


class Fhir:
    """A test client that sends a bearer token and parses FHIR JSON."""

    def __init__(self, client, token: str | None = DEMO_TOKEN):
        self.client = client
        self.token = token

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Accept": "application/fhir+json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def get(self, path: str, **kwargs):
        headers = self.headers(kwargs.pop("headers", None))
        return self.client.get(f"/fhir/{path}", headers=headers, **kwargs)

    def post(self, path: str, body, headers: dict | None = None, **kwargs):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            f"/fhir/{path}",
            data=data,
            headers=self.headers({"Content-Type": "application/fhir+json", **(headers or {})}),
            **kwargs,
        )


def hospital(code: str) -> Hospital:
    from app.extensions import db

    return db.session.scalar(select(Hospital).where(Hospital.code == code))


def patient_named(given_th: str) -> Patient:
    from app.extensions import db

    return db.session.scalar(select(Patient).where(Patient.given_name_th == given_th))


def make_request(
    now,
    *,
    patient: Patient,
    requester: str = KUDRANG,
    hub: str | None = MKH,
    procedure: str = "US-UPABD",
    placer: str = "KR-1",
    status: RequestStatus = RequestStatus.SUBMITTED,
    **values,
) -> ImagingRequest:
    from app.extensions import db

    row = ImagingRequest(
        placer_order_number=placer,
        requesting_hospital_id=hospital(requester).id,
        hub_hospital_id=hospital(hub).id if hub else None,
        patient_id=patient.id,
        procedure_id=db.session.scalar(select(Procedure.id).where(Procedure.code == procedure)),
        priority=values.pop("priority", Priority.ROUTINE),
        status=status,
        indication=values.pop("indication", "ปวดท้องด้านขวาบน"),
        created_at=now,
        updated_at=now,
        submitted_at=now,
        **values,
    )
    db.session.add(row)
    db.session.commit()
    return row


def make_appointment(
    now,
    request: ImagingRequest,
    *,
    ae_title: str = "MKH_US1",
    start=None,
    accession: str = "MKH0001",
    n: int = 1,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
) -> Appointment:
    from app.extensions import db

    device = db.session.scalar(select(Device).where(Device.ae_title == ae_title))
    start = start or now + timedelta(days=2)
    row = Appointment(
        request_id=request.id,
        patient_id=request.patient_id,
        hub_hospital_id=device.hospital_id,
        device_id=device.id,
        start_at=start,
        end_at=start + timedelta(minutes=request.procedure.duration_minutes),
        status=status,
        accession_number=accession,
        study_instance_uid=f"1.2.826.0.1.3680043.10.1.{n}",
        requested_procedure_id=f"RP{n}",
        sps_id=f"SPS{n}",
        appointment_code=f"ABC{n:03d}",
        created_at=now,
        updated_at=now,
    )
    request.status = RequestStatus.SCHEDULED
    db.session.add(row)
    db.session.commit()
    return row


def make_study(now, appointment: Appointment, **values) -> Study:
    from app.extensions import db

    row = Study(
        request_id=appointment.request_id,
        appointment_id=appointment.id,
        study_instance_uid=appointment.study_instance_uid,
        accession_number=appointment.accession_number,
        first_source=StudySource.MPPS,
        confirmed_by="mpps",
        created_at=now,
        updated_at=now,
        **values,
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def network(demo):
    """Demo data plus API clients for the hub's PACS and for Kosum Phisai's HIS."""
    from app.extensions import db

    db.session.add_all(
        [
            ApiClient(
                name="mkh-pacs",
                hospital_id=hospital(MKH).id,
                token_sha256=ApiClient.hash_token(HUB_TOKEN),
            ),
            ApiClient(
                name="kosum-his",
                hospital_id=hospital(KOSUM).id,
                token_sha256=ApiClient.hash_token(KOSUM_TOKEN),
            ),
        ]
    )
    db.session.commit()
    return db


@pytest.fixture
def kudrang(client, network) -> Fhir:
    return Fhir(client, DEMO_TOKEN)


@pytest.fixture
def hub(client, network) -> Fhir:
    return Fhir(client, HUB_TOKEN)


@pytest.fixture
def kosum(client, network) -> Fhir:
    return Fhir(client, KOSUM_TOKEN)


def parsed(response, status: int = 200):
    """The response body as a fhir.resources model: every answer must parse back."""
    from fhir.resources import get_fhir_model_class

    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    body = json.loads(response.get_data(as_text=True))
    return get_fhir_model_class(body["resourceType"]).model_validate(body)


def outcome(response, status: int):
    """The OperationOutcome of an error answer: (issue code, Thai text, English text, code)."""
    result = parsed(response, status)
    assert result.get_resource_type() == "OperationOutcome"
    issue = result.issue[0]
    return issue.code, issue.details.text, issue.diagnostics, issue.details.coding[0].code


def ids(bundle) -> list[str]:
    return [entry.resource.id for entry in bundle.entry or []]
