"""Referral images end to end against a real PACS (Orthanc) and a real MLLP receiver.

The community hospital (รพ.กุดรัง, 11008) sends its studies to the hub's PACS under its
own Patient ID (its HN KR0001); the hub (รพ.มหาสารคาม, 10707) files the person under its
HN MK0001. The watcher finds them, a mismatching study is held, the hub confirms the
right one, the ADT goes out through the outbox and the PACS's answer is checked.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from integrations.hl7.models import (
    Hl7Destination,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7PatientUpdate,
    OutboxStatus,
)
from integrations.hl7.outbound import drain_outbox
from scheduling.audit import Actor
from scheduling.errors import NotAllowed
from scheduling.models import (
    Interface,
    Modality,
    PriorIdentity,
    ReferralStudy,
    Role,
    StaffNotification,
)
from scheduling.referrals import add_prior_study, decide_identity, online_share
from tests.integrations.hl7.conftest import Receiver
from tests.scheduling.factories import create_user
from tests.worklist.conftest import TODAY, book_step, local
from tests.worklist.orthanc import AE_TITLE, Orthanc
from worklist.pacs_query import PacsSettings
from worklist.referral_watch import watch_referral_images

KR_NAME = "THONGDI^SOMSRI=ทองดี^สมศรี"


class PacsHl7(Receiver):
    """The PACS's HL7 interface: acknowledges, and applies a patient update to Orthanc
    the way a PACS does (MRG-1's patient filed under PID-3's first identifier)."""

    def __init__(self, pacs: Orthanc):
        super().__init__()
        self.pacs = pacs

    def __call__(self, block, peer):
        answer = super().__call__(block, peer)
        message = self.messages()[-1]
        if message.segment("MRG") is not None:
            new_id = message.segment("PID").get(3)
            old_id = message.segment("MRG").get(1)
            self.pacs.change_patient_id(old_id, new_id)
        return answer


@pytest.fixture
def pacs(tmp_path):
    peer = Orthanc(tmp_path)
    yield peer
    peer.stop()


@pytest.fixture
def pacs_hl7(pacs, db):
    from integrations.hl7.mllp import MllpServer

    stand_in = PacsHl7(pacs)
    server = MllpServer(stand_in, "127.0.0.1", 0).start()
    stand_in.port = server.port
    yield stand_in
    server.stop()


def settings(pacs: Orthanc) -> PacsSettings:
    return PacsSettings(
        host="127.0.0.1", port=pacs.dicom_port, ae_title=AE_TITLE, calling_ae_title="RADBOOK"
    )


@pytest.fixture
def referral(db, network, now):
    """Somsri's request from Kut Rang, booked at the hub tomorrow 09:00, with five prior
    studies listed: by accession (DX), by UID (DX), one never sent (DX), one on CD (MG),
    and one whose UID names another patient's study (DX)."""
    db.session.add_all(
        [
            Modality(code="DX", name_th="เอกซเรย์ทั่วไป", name_en="Digital radiography"),
            Modality(code="MG", name_th="เอกซเรย์เต้านม", name_en="Mammography"),
        ]
    )
    db.session.commit()
    appointment = book_step(
        db, network, network.somsri, "MKH_US1", local(TODAY + timedelta(days=1), "0900")
    )
    request = appointment.request
    kudrang = Actor(Interface.WEB, name="staff.kudrang", hospital_id=network.requester.id)
    listed = {}
    for key, values in {
        "by_accession": {"modality_code": "DX", "accession_number": "KRX001"},
        "by_uid": {"modality_code": "DX", "study_instance_uid": "1.2.3.4.5.6.1"},
        "never_sent": {"modality_code": "DX", "accession_number": "KRX003"},
        "on_cd": {"modality_code": "MG", "sent_on_cd": True, "description": "Mammogram"},
        "wrong_patient": {"modality_code": "DX", "study_instance_uid": "1.2.3.4.5.6.5"},
    }.items():
        listed[key] = add_prior_study(kudrang, now, request, **values)
    return request, appointment, listed


def _store_sent_studies(pacs: Orthanc) -> None:
    pacs.store(
        patient_id="KR0001", name=KR_NAME, birth_date="19680314", sex="F",
        accession="KRX001", series=2, images=3,
    )  # fmt: skip
    # Already filed under the hub's HN (e.g. the hub's PACS team fixed it by hand).
    pacs.store(
        patient_id="MK0001", name=KR_NAME, birth_date="19680314", sex="F",
        issuer="10707", study_uid="1.2.3.4.5.6.1",
    )  # fmt: skip
    # Another patient's study under another ID, but with the UID the requester typed.
    pacs.store(
        patient_id="KR0999", name="SOMCHAI^DEEJAI", birth_date="19800101", sex="M",
        study_uid="1.2.3.4.5.6.5",
    )  # fmt: skip


def _notified(kind: str) -> list[int]:
    return sorted(
        n.hospital_id
        for n in db_scalars(select(StaffNotification).where(StaffNotification.kind == kind))
    )


def db_scalars(query):
    from app.extensions import db

    return list(db.session.scalars(query))


def test_arrival_hold_confirm_adt_and_what_the_pacs_then_reports(
    app, db, network, now, referral, pacs, pacs_hl7
):
    request, appointment, listed = referral
    db.session.add(
        Hl7Destination(
            name="hub PACS",
            host="127.0.0.1",
            port=pacs_hl7.port,
            hub_hospital_id=network.hub.id,
            patient_update=Hl7PatientUpdate.A40,
        )
    )
    db.session.commit()
    _store_sent_studies(pacs)

    result = watch_referral_images(app, settings(pacs), now)

    assert result.error is None
    assert sorted(result.arrived) == sorted(
        [listed["by_accession"].id, listed["by_uid"].id, listed["wrong_patient"].id]
    )
    assert result.not_yet == [listed["never_sent"].id]
    db.session.expire_all()
    by_accession = db.session.get(ReferralStudy, listed["by_accession"].id)
    assert (by_accession.series_count, by_accession.instance_count) == (2, 6)
    assert by_accession.identity is PriorIdentity.PENDING
    assert by_accession.problems == ""  # the requester's HN, name, birth date and sex fit
    assert (by_accession.hub_patient_id, by_accession.hub_issuer) == ("MK0001", "10707")
    assert db.session.get(ReferralStudy, listed["by_uid"].id).identity is PriorIdentity.HUB_ID
    wrong = db.session.get(ReferralStudy, listed["wrong_patient"].id)
    assert wrong.identity is PriorIdentity.PENDING
    assert set(wrong.problems.split(",")) == {"patient-id", "birth-date", "sex", "name"}
    never = db.session.get(ReferralStudy, listed["never_sent"].id)
    assert never.arrived_at is None and never.missing_flagged_at == now
    assert db.session.get(ReferralStudy, listed["on_cd"].id).next_check_at is None

    # Alerts: the hub hears of each arrival, the requester that each was received, and
    # both that one is still missing the day before the exam.
    hub, kudrang = network.hub.id, network.requester.id
    assert _notified("referral.images_arrived") == [hub, hub, hub]
    assert _notified("referral.images_received") == [kudrang, kudrang, kudrang]
    assert _notified("referral.images_missing") == sorted([hub, kudrang])

    # Held: nothing goes to the PACS before a person at the hub confirms.
    assert db_scalars(select(Hl7OutboxMessage)) == []
    assert drain_outbox(app, now=now) == {"sent": 0, "retry": 0, "failed": 0}
    assert pacs_hl7.blocks == []

    # Neither the requester nor another hub may confirm.
    requester_user = create_user(network.requester, Role.REQUESTER)
    other_hub_user = create_user(network.other_hub, Role.SCHEDULER)
    for outsider in (requester_user, other_hub_user):
        with pytest.raises(NotAllowed):
            decide_identity(Actor(Interface.WEB, user=outsider), now, by_accession, confirm=True)
        db.session.expire_all()
        assert db.session.get(ReferralStudy, by_accession.id).identity is PriorIdentity.PENDING

    scheduler = create_user(network.hub, Role.SCHEDULER)
    db.session.commit()
    decide_identity(Actor(Interface.WEB, user=scheduler), now, wrong, confirm=False)
    decide_identity(Actor(Interface.WEB, user=scheduler), now, by_accession, confirm=True)
    rows = db_scalars(select(Hl7OutboxMessage))
    assert [(r.event, r.message_type, r.referral_study_id) for r in rows] == [
        (Hl7OutboundEvent.PATIENT_MERGE, "ADT^A40", by_accession.id)
    ]

    assert drain_outbox(app, now=now)["sent"] == 1
    (adt,) = pacs_hl7.messages()
    msh, evn, pid, mrg = (adt.segment(name) for name in ("MSH", "EVN", "PID", "MRG"))
    assert msh.get(9) == "ADT" and msh.get(9, 2) == "A40" and msh.get(9, 3) == "ADT_A39"
    assert msh.get(4) == "10707" and msh.get(12) == "2.5.1"
    assert evn.get(1) == "A40"
    assert pid.get(3) == "MK0001"
    assert pid.get(3, 4) == "10707" and pid.get(3, 5) == "MR"
    assert pid.get(7) == "19680314" and pid.get(8) == "F"
    assert pid.get(5) == "ทองดี" and pid.get(5, 2) == "สมศรี"
    assert mrg.get(1) == "KR0001"
    assert mrg.get(1, 4) == ""  # the PACS filed it without an issuer: none is invented
    assert db.session.get(Hl7OutboxMessage, rows[0].id).status is OutboxStatus.SENT

    # What the PACS then reports: the study under the hub's HN.
    assert pacs.patient_id_of(by_accession.found_study_uid) == "MK0001"
    later = now + timedelta(minutes=3)
    result = watch_referral_images(app, settings(pacs), later)
    assert result.verified == [by_accession.id]
    db.session.expire_all()
    verified = db.session.get(ReferralStudy, by_accession.id)
    assert verified.identity is PriorIdentity.VERIFIED and verified.verified_at == later
    assert verified.next_check_at is None
    assert db.session.get(ReferralStudy, wrong.id).identity is PriorIdentity.REJECTED


def test_a_pacs_that_has_not_applied_the_update_is_asked_again(
    app, db, network, now, referral, pacs
):
    """No destination takes patient updates (the default): the hub's confirmation is
    recorded, nothing is sent, and the watcher keeps asking while the PACS still files
    the study under the requester's ID."""
    request, appointment, listed = referral
    _store_sent_studies(pacs)
    watch_referral_images(app, settings(pacs), now)
    scheduler = create_user(network.hub, Role.SCHEDULER)
    db.session.commit()
    prior = db.session.get(ReferralStudy, listed["by_accession"].id)
    decide_identity(Actor(Interface.WEB, user=scheduler), now, prior, confirm=True)
    assert db_scalars(select(Hl7OutboxMessage)) == []

    later = now + timedelta(minutes=3)
    result = watch_referral_images(app, settings(pacs), later)
    assert result.verified == []
    db.session.expire_all()
    prior = db.session.get(ReferralStudy, prior.id)
    assert prior.identity is PriorIdentity.CONFIRMED
    assert "KR0001" in prior.last_error and prior.next_check_at > later


def test_the_online_share_per_hospital_and_modality(app, db, network, now, referral, pacs):
    request, appointment, listed = referral
    _store_sent_studies(pacs)
    watch_referral_images(app, settings(pacs), now)
    # A second referral whose DX images go on CD.
    other = book_step(db, network, network.boonlert, "MKH_US1", local(TODAY, "1400"))
    add_prior_study(
        Actor(Interface.WEB, hospital_id=network.requester.id),
        now,
        other.request,
        modality_code="DX",
        sent_on_cd=True,
    )
    rows = {
        (r.hospital.code, r.modality_code): r for r in online_share(hub_hospital_id=network.hub.id)
    }
    assert (rows["11008", "DX"].online, rows["11008", "DX"].on_cd) == (1, 1)
    assert rows["11008", "DX"].share == 0.5
    assert (rows["11008", "MG"].online, rows["11008", "MG"].on_cd, rows["11008", "MG"].share) == (
        0,
        1,
        0.0,
    )
    # Another hub's dashboard counts none of these referrals.
    assert online_share(hub_hospital_id=network.other_hub.id) == []
    # A region office asks by its community hospitals, whichever hub they referred to.
    region = online_share(requesting_hospital_ids=[network.requester.id])
    assert [(r.modality_code, r.online, r.on_cd) for r in region] == [("DX", 1, 1), ("MG", 0, 1)]
    assert online_share(requesting_hospital_ids=[network.hub.id]) == []


def test_a_pacs_that_is_down_changes_nothing_but_missing_images_are_still_flagged(
    app, db, network, now, referral
):
    request, appointment, listed = referral
    from tests.faults.harness import free_port

    down = PacsSettings(
        host="127.0.0.1", port=free_port(), ae_title=AE_TITLE, calling_ae_title="RADBOOK"
    )
    result = watch_referral_images(app, down, now)
    assert result.error and "unreachable" in result.error
    assert result.arrived == [] and result.asked == 0
    db.session.expire_all()
    rows = db_scalars(select(ReferralStudy).order_by(ReferralStudy.id))
    assert all(r.arrived_at is None and r.next_check_at == now for r in rows if not r.sent_on_cd)
    # The exam is tomorrow: every online study not seen yet is flagged all the same.
    assert sorted(result.flagged) == sorted(r.id for r in rows if not r.sent_on_cd)
