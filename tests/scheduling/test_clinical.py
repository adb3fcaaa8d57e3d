"""Screening, vetting, timeline and the requester's notifications (scheduling core)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduling import screening, vetting
from scheduling.attachments import add_attachment, may_read
from scheduling.audit import Actor
from scheduling.booking import book, cancel_appointment, reschedule
from scheduling.errors import NotAllowed, ValidationFailed
from scheduling.models import (
    AppointmentStatus,
    AttachmentKind,
    Interface,
    Priority,
    RequestStatus,
    Role,
    Sex,
    StaffNotification,
    TreatmentRight,
    VettingDecision,
)
from scheduling.requests import create_request, reject_request, update_screening
from scheduling.studies import attach_report
from scheduling.timeline import timeline
from tests.scheduling.factories import (
    create_hospital,
    create_patient,
    create_procedure,
    create_req,
    create_setup,
    create_user,
)

MON_0900 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)
CONTRAST_OK = {
    "creatinine": "0.9",
    "lab_date": "2026-11-01",
    "contrast_allergy": "no",
    "weight_kg": "60",
}


def actor_of(user):
    return Actor(interface=Interface.WEB, user=user)


# --- which questions apply -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("modality", "contrast", "sex", "born", "expected"),
    [
        # ultrasound: nothing to ask
        ("US", False, Sex.FEMALE, date(1995, 1, 1), set()),
        # plain CT, a man: nothing
        ("CT", False, Sex.MALE, date(1995, 1, 1), set()),
        # plain CT, a woman of 31: pregnancy
        ("CT", False, Sex.FEMALE, date(1995, 1, 1), {"pregnancy"}),
        # a girl of 9 and a woman of 56: not of child-bearing age
        ("CT", False, Sex.FEMALE, date(2017, 6, 1), set()),
        ("CT", False, Sex.FEMALE, date(1970, 1, 1), set()),
        # age unknown: ask
        ("DX", False, Sex.FEMALE, None, {"pregnancy"}),
        # contrast CT, a man: labs, allergy, weight
        ("CT", True, Sex.MALE, date(1960, 1, 1), {"contrast", "weight"}),
        # MRI: the safety questions (and pregnancy for a woman of 31)
        ("MR", False, Sex.FEMALE, date(1995, 1, 1), {"mri", "pregnancy"}),
        ("NM", False, Sex.MALE, date(1960, 1, 1), {"weight"}),
    ],
)
def test_sections_for(db, modality, contrast, sex, born, expected):
    procedure = create_procedure(modality=modality, uses_contrast=contrast)
    patient = create_patient(sex=sex, birth_date=born)
    found = screening.sections_for(procedure, patient, TODAY)
    assert {s.value for s in found} == expected


def test_clean_contrast_needs_recent_labs_and_allergy(db):
    procedure = create_procedure(modality="CT", uses_contrast=True)
    patient = create_patient(sex=Sex.MALE, birth_date=date(1960, 1, 1))
    assert screening.clean(procedure, patient, CONTRAST_OK, TODAY)["creatinine"] == 0.9
    cases = {
        "creatinine": {**CONTRAST_OK, "creatinine": ""},
        "lab_date": {**CONTRAST_OK, "lab_date": "2026-07-01"},  # older than 90 days
        "contrast_allergy": {**CONTRAST_OK, "contrast_allergy": ""},
        "contrast_allergy_detail": {**CONTRAST_OK, "contrast_allergy": "yes"},
        "weight_kg": {**CONTRAST_OK, "weight_kg": "abc"},
    }
    for field, answers in cases.items():
        with pytest.raises(ValidationFailed) as caught:
            screening.clean(procedure, patient, answers, TODAY)
        assert caught.value.code == f"screening-{field}"
        assert caught.value.message("th")  # a Thai message, never empty


def test_egfr_from_creatinine_ckd_epi_2021(db):
    patient = create_patient(sex=Sex.MALE, birth_date=date(1966, 11, 1))  # 60 years old
    # CKD-EPI 2021, male 60 y, creatinine 1.0 mg/dL: 86 mL/min/1.73 m² (published tables).
    assert screening.egfr_of({"creatinine": 1.0}, patient, TODAY) == pytest.approx(86, abs=0.5)
    assert screening.egfr_of({"egfr": 25}, patient, TODAY) == 25


def test_request_keeps_screening_and_alerts(db, now):
    hub, requester, device, _ = create_setup(now, modality="CT")
    procedure = create_procedure(modality="CT", uses_contrast=True)
    patient = create_patient(hospital_id=requester.id, sex=Sex.FEMALE, birth_date=date(1990, 5, 5))
    answers = {
        **CONTRAST_OK,
        "egfr": "25",
        "contrast_allergy": "yes",
        "contrast_allergy_detail": "urticaria 2019",
        "pregnancy": "possible",
    }
    user = create_user(requester, Role.REQUESTER)
    request = create_request(
        actor_of(user),
        now,
        patient=patient,
        procedure=procedure,
        requesting_hospital_id=requester.id,
        treatment_right=TreatmentRight.UC,
        referral_number=" 6911-0042 ",
        screening=answers,
    )
    assert request.referral_number == "6911-0042"
    assert request.screening["contrast_allergy_detail"] == "urticaria 2019"
    assert screening.missing(request, TODAY) is None
    assert screening.alerts(request, TODAY) == [
        "CONTRAST ALLERGY",
        "LOW EGFR 25",
        "PREGNANCY POSSIBLE",
    ]


def test_order_without_screening_is_incomplete_until_completed(db, now):
    hub, requester, device, _ = create_setup(now, modality="CT")
    procedure = create_procedure(modality="CT", uses_contrast=True)
    request = create_req(now, requester, procedure)
    assert screening.missing(request, TODAY).code == "screening-creatinine"
    user = create_user(requester, Role.REQUESTER)
    update_screening(
        actor_of(user),
        now,
        request,
        screening=CONTRAST_OK,
        treatment_right=TreatmentRight.SSS,
        referral_number="R1",
    )
    assert screening.missing(request, TODAY) is None
    other = create_user(create_hospital(), Role.REQUESTER)
    with pytest.raises(NotAllowed):
        update_screening(
            actor_of(other), now, request, screening={}, treatment_right=None, referral_number=""
        )


# --- vetting ------------------------------------------------------------------------------


def _vetting_setup(now):
    hub, requester, device, _ = create_setup(now, modality="CT")
    procedure = create_procedure(modality="CT", uses_contrast=True)
    radiologist = create_user(hub, Role.RADIOLOGIST)
    vetting.set_vetting_rule(actor_of(radiologist), now, hub.id, procedure, True)
    protocol = vetting.add_protocol(
        actor_of(radiologist),
        now,
        hub.id,
        modality_code="CT",
        code="CTABD3P",
        name_th="CT ช่องท้อง 3 phase",
        name_en="CT abdomen triphasic",
        contrast=True,
    )
    request = create_req(now, requester, procedure, hub=hub)
    return hub, requester, device, radiologist, protocol, request


def test_vetting_queue_and_approve(db, now):
    hub, requester, device, radiologist, protocol, request = _vetting_setup(now)
    assert vetting.awaiting_vetting(request)
    assert db.session.scalars(vetting.queue(hub.id)).all() == [request]
    # another hub's queue does not show it
    assert db.session.scalars(vetting.queue(requester.id)).all() == []
    scheduler = create_user(hub, Role.SCHEDULER)
    with pytest.raises(NotAllowed):
        vetting.approve(actor_of(scheduler), now, request, protocol=protocol, contrast=True)
    vetting.approve(
        actor_of(radiologist),
        now,
        request,
        protocol=protocol,
        contrast=True,
        notes="liver lesion protocol",
        priority=Priority.URGENT,
    )
    assert request.vetting_decision is VettingDecision.APPROVED
    assert request.priority is Priority.URGENT
    assert db.session.scalars(vetting.queue(hub.id)).all() == []
    entry = [e for e in timeline(request) if e.action == "request.vet"][0]
    assert entry.protocol == "CTABD3P" and entry.user == radiologist


def test_protocol_of_another_hub_refused(db, now):
    hub, requester, device, radiologist, protocol, request = _vetting_setup(now)
    other_hub = create_hospital(is_hub=True)
    foreign = vetting.add_protocol(
        Actor(interface=Interface.CLI, name="t"),
        now,
        other_hub.id,
        modality_code="CT",
        code="X",
        name_th="x",
        name_en="x",
        contrast=False,
    )
    with pytest.raises(ValidationFailed):
        vetting.approve(actor_of(radiologist), now, request, protocol=foreign, contrast=False)


def test_decline_cancels_booking_and_tells_requester(db, now):
    hub, requester, device, radiologist, protocol, request = _vetting_setup(now)
    appointment = book(
        actor_of(create_user(requester, Role.REQUESTER)), now, request, device, MON_0900
    )
    vetting.decline(actor_of(radiologist), now, request, "US first, please")
    assert request.status is RequestStatus.REJECTED
    assert appointment.status is AppointmentStatus.CANCELLED
    notes = db.session.scalars(select(StaffNotification)).all()
    assert [(n.hospital_id, n.kind, n.reason) for n in notes] == [
        (requester.id, "request.declined", "US first, please")
    ]


# --- notifications and timeline -----------------------------------------------------------


def test_hub_actions_notify_requester_own_actions_do_not(db, now):
    hub, requester, device, procedure = create_setup(now)
    staff = create_user(requester, Role.REQUESTER)
    scheduler = create_user(hub, Role.SCHEDULER)
    request = create_req(now, requester, procedure, hub=hub)
    first = book(actor_of(staff), now, request, device, MON_0900)
    # the requester moves their own booking: no notification
    second = reschedule(
        actor_of(staff), now, first, device, MON_0900 + timedelta(hours=1), reason="patient asked"
    )
    assert db.session.scalars(select(StaffNotification)).all() == []
    third = reschedule(
        actor_of(scheduler), now, second, device, MON_0900 + timedelta(hours=2), reason="CT down"
    )
    cancel_appointment(actor_of(scheduler), now, third, "scanner broken")
    attach_report(
        Actor(interface=Interface.HL7, name="RIS", hospital_id=hub.id), now, request, text="ok"
    )
    other = create_req(now, requester, procedure, hub=hub)
    reject_request(actor_of(scheduler), now, other, "wrong hub")
    rows = db.session.scalars(select(StaffNotification).order_by(StaffNotification.id)).all()
    assert [(r.hospital_id, r.kind, r.reason) for r in rows] == [
        (requester.id, "appointment.moved", "CT down"),
        (requester.id, "appointment.cancelled", "scanner broken"),
        (requester.id, "report.arrived", None),
        (requester.id, "request.rejected", "wrong hub"),
    ]
    assert "11:00" in rows[0].params["when"]  # 04:00 UTC = 11:00 Bangkok
    # the timeline tells the same story, with who and why
    actions = [(e.action, e.reason) for e in timeline(request)]
    assert actions == [
        ("request.create", None),
        ("appointment.book", None),
        ("appointment.reschedule", "patient asked"),
        ("appointment.reschedule", "CT down"),
        ("appointment.cancel", "scanner broken"),
        ("request.report", None),
    ]


def test_attachments_sniffed_limited_and_private(db, now):
    hub, requester, device, procedure = create_setup(now)
    staff = create_user(requester, Role.REQUESTER)
    request = create_req(now, requester, procedure, hub=hub)
    row = add_attachment(
        actor_of(staff),
        now,
        request,
        kind=AttachmentKind.LAB_RESULT,
        filename="C:\\lab\\cr.pdf",
        data=b"%PDF-1.4 lab",
    )
    assert (row.filename, row.content_type) == ("cr.pdf", "application/pdf")
    for data, code in (
        (b"<html>", "attachment-type"),
        (b"%PDF" + b"x" * (6 << 20), "attachment-size"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            add_attachment(
                actor_of(staff), now, request, kind=AttachmentKind.OTHER, filename="x", data=data
            )
        assert caught.value.code == code
    assert may_read(staff, request) and may_read(create_user(hub), request)
    assert not may_read(create_user(create_hospital(is_hub=True)), request)
