"""The core rules of referral images: what a requester may list, when a study counts as
missing, what the day grid and the region office get."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.extensions import db
from scheduling.audit import Actor
from scheduling.errors import Conflict, FieldRefused, NotAllowed
from scheduling.models import Interface, PriorIdentity, RequestStatus
from scheduling.referrals import (
    MAX_PRIOR_STUDIES,
    add_prior_study,
    flag_missing,
    record_arrival,
    referral_image_status,
    remove_prior_study,
    set_sent_on_cd,
)
from scheduling.studies import ReportedIdentity
from tests.scheduling.factories import create_req, create_setup

JOB = Actor(Interface.JOBS, name="referral-watch")


@pytest.fixture
def setup(db, now):
    hub, requester, device, procedure = create_setup(now)
    request = create_req(now, requester, procedure, hub=hub)
    return hub, requester, device, procedure, request


def _as(hospital) -> Actor:
    return Actor(Interface.WEB, hospital_id=hospital.id)


def test_what_a_requester_may_list(setup, now):
    hub, requester, _device, _procedure, request = setup
    me = _as(requester)
    with pytest.raises(NotAllowed):
        add_prior_study(_as(hub), now, request, modality_code="US", sent_on_cd=True)
    with pytest.raises(FieldRefused) as no_key:
        add_prior_study(me, now, request, modality_code="US")
    assert no_key.value.field == "accession_number"
    with pytest.raises(FieldRefused):
        add_prior_study(me, now, request, modality_code="ZZ", sent_on_cd=True)
    with pytest.raises(FieldRefused):
        add_prior_study(me, now, request, modality_code="US", study_instance_uid="1.2.x")
    with pytest.raises(FieldRefused):
        add_prior_study(me, now, request, modality_code="US", accession_number="A\\B")
    tomorrow = date(2026, 11, 22)  # the suite's today is 21 Nov 2026 in Bangkok
    with pytest.raises(FieldRefused):
        add_prior_study(me, now, request, modality_code="US", sent_on_cd=True, study_date=tomorrow)
    add_prior_study(me, now, request, modality_code="US", study_date=tomorrow - timedelta(1),
                    accession_number="A1")  # fmt: skip
    with pytest.raises(Conflict):
        add_prior_study(me, now, request, modality_code="US", accession_number="A1")
    for n in range(MAX_PRIOR_STUDIES - 1):
        add_prior_study(me, now, request, modality_code="US", accession_number=f"B{n}")
    with pytest.raises(Conflict):
        add_prior_study(me, now, request, modality_code="US", sent_on_cd=True)


def test_an_arrived_study_stays_and_a_closed_request_is_frozen(setup, now):
    _hub, requester, _device, _procedure, request = setup
    me = _as(requester)
    prior = add_prior_study(me, now, request, modality_code="US", accession_number="A1")
    record_arrival(
        JOB, now, prior, study_instance_uid="1.2.3", series_count=1, instance_count=1,
        identity=ReportedIdentity(patient_id=request.patient.id_value),
    )  # fmt: skip
    # Filed under the national ID, the hub's ID for a patient it keeps no HN for.
    assert prior.identity is PriorIdentity.HUB_ID
    with pytest.raises(Conflict):
        set_sent_on_cd(me, now, prior, on_cd=True)
    with pytest.raises(Conflict):
        remove_prior_study(me, now, prior)
    request.status = RequestStatus.CANCELLED
    db.session.commit()
    with pytest.raises(Conflict):
        add_prior_study(me, now, request, modality_code="US", sent_on_cd=True)


def _booked(setup, now, start):
    from scheduling.booking import book

    hub, requester, device, procedure, _request = setup
    request = create_req(now, requester, procedure, hub=hub)
    book(Actor(Interface.WEB, hospital_id=hub.id), now, request, device, start)
    return request


@pytest.mark.parametrize(
    ("days_ahead", "flagged"),
    [
        (1, True),  # tomorrow 09:00: the day before the exam
        (2, False),  # the day after tomorrow: not yet
    ],
)
def test_missing_the_day_before_the_exam(setup, now, days_ahead, flagged):
    _hub, requester, *_ = setup
    start = now + timedelta(days=days_ahead)
    request = _booked(setup, now, start)
    me = _as(requester)
    online = add_prior_study(me, now, request, modality_code="US", accession_number="A1")
    add_prior_study(me, now, request, modality_code="US", sent_on_cd=True)
    assert [p.id for p in flag_missing(JOB, now)] == ([online.id] if flagged else [])
    assert flag_missing(JOB, now) == []  # once per study
    status = referral_image_status([request.id, 999])
    assert list(status) == [request.id]
    assert (status[request.id].listed, status[request.id].on_cd, status[request.id].missing) == (
        2,
        1,
        1,
    )
