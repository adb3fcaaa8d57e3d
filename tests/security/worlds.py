"""Four "worlds" of patient data over the demo network, for the access-control matrices.

A world is one requesting hospital sending one patient to one hub: a patient, a
request, a booked appointment, a study with a report, a LINE reply. Each carries
marker strings that appear nowhere else, so a page or an answer that shows a world's
data can be caught by looking for its markers.

========  =======================  ==============  =====================================
world     requesting hospital      hub             may see it (besides admin)
========  =======================  ==============  =====================================
``KM``    รพ.กุดรัง (11008)          รพ.มหาสารคาม    staff.kudrang, scheduler/radiologist.mkh
``KU``    รพ.กุดรัง (11008)          รพ.อุดรธานี     staff.kudrang, scheduler/radiologist.udn
``SM``    รพ.โกสุมพิสัย (11005)      รพ.มหาสารคาม    staff.kosum, scheduler/radiologist.mkh
``CU``    รพ.เชียงยืน (11001)        รพ.อุดรธานี     scheduler/radiologist.udn
========  =======================  ==============  =====================================

``KM`` and ``KU`` share their patient: the patient is the hubs' (each is addressed), but
each hub sees only its own request. The table is written out here by hand, not
computed with ``scheduling.access``, so a bug there cannot hide itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

from sqlalchemy import select

from app.extensions import db
from integrations.fhir.models import ApiClient
from integrations.hl7.models import (
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OutboxMessage,
    Hl7Outcome,
    Hl7Sender,
)
from integrations.line.models import (
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LinePatientReply,
    LineReplyKind,
)
from scheduling.attachments import add_attachment
from scheduling.audit import Actor
from scheduling.availability import find_slots
from scheduling.booking import book, reschedule
from scheduling.capacity import add_closure, create_quota
from scheduling.clock import local_datetime, local_today, utcnow
from scheduling.models import (
    AttachmentKind,
    ClosureKind,
    Device,
    Hospital,
    HubProtocol,
    IdentifierType,
    ImagingRequest,
    Interface,
    Patient,
    Procedure,
    Role,
    Sex,
    StaffNotification,
    StudySource,
    User,
    WaitlistEntry,
)
from scheduling.patients import national_id_check_digit, register_patient
from scheduling.referrals import add_prior_study, record_arrival
from scheduling.requests import create_request
from scheduling.studies import ReportedIdentity, attach_report, link_or_hold, link_study
from worklist.models import HospitalPacs

REQUEST_MARKERS = 6  # a world's markers: request-level first, then the patient's

SETUP = Actor(interface=Interface.CLI, name="access-matrix")

KUDRANG, KOSUM, CHIANG_YUEN = "11008", "11005", "11001"
MKH, UDN = "10707", "10671"

# Who may see each world, by username; admin sees everything.
VISIBLE_TO: dict[str, set[str]] = {
    "KM": {"staff.kudrang", "scheduler.mkh", "radiologist.mkh"},
    "KU": {"staff.kudrang", "scheduler.udn", "radiologist.udn"},
    "SM": {"staff.kosum", "scheduler.mkh", "radiologist.mkh"},
    "CU": {"scheduler.udn", "radiologist.udn"},
    # Booked at MKH, then moved by the requester to UDN: MKH keeps its old (MOVED) row,
    # but the request, its report and its patient are UDN's now.
    "SX": {"staff.kosum", "scheduler.udn", "radiologist.udn"},
}
# Which hub's capacity objects (devices, templates, quotas, closures) a user manages.
HUB_OF: dict[str, str] = {
    "scheduler.mkh": MKH,
    "radiologist.mkh": MKH,
    "scheduler.udn": UDN,
    "radiologist.udn": UDN,
}
EXTRA_USERS = [
    ("scheduler.udn", Role.SCHEDULER, UDN),
    ("radiologist.udn", Role.RADIOLOGIST, UDN),
]
# FHIR clients, one per hospital that has a world (the demo's own is รพ.กุดรัง's).
API_TOKENS = {
    KUDRANG: "demo-his-token",
    KOSUM: "kosum-his-token",
    CHIANG_YUEN: "cy-his-token",
    MKH: "mkh-pacs-token",
    UDN: "udn-pacs-token",
}

# world: (requesting code, hub code, procedure, AE title of the scanner, patient key)
PLAN = {
    "KM": (KUDRANG, MKH, "US-UPABD", "MKH_US1", "K"),
    "KU": (KUDRANG, UDN, None, "UDN_CT1", "K"),
    "SM": (KOSUM, MKH, "US-UPABD", "MKH_US1", "S"),
    "CU": (CHIANG_YUEN, UDN, None, "UDN_CT1", "C"),
    "SX": (KOSUM, UDN, None, "UDN_CT2", "X"),
}
MOVED_FROM = {"SX": "MKH_CT1"}  # world: where it was booked first
# patient key: (12-digit ID stem, Thai given name (a marker), HN, hospital, born)
PATIENTS = {
    "K": ("190010000017", "กุดรังลับยิ่ง", "KRSECRET1", KUDRANG, date(1970, 2, 3)),
    "S": ("190010000025", "โกสุมลับยิ่ง", "KSSECRET1", KOSUM, date(1981, 4, 5)),
    "C": ("190010000033", "เชียงยืนลับยิ่ง", "CYSECRET1", CHIANG_YUEN, date(1992, 6, 7)),
    "X": ("190010000041", "ย้ายไปลับยิ่ง", "KSSECRET2", KOSUM, date(1965, 8, 9)),
}


@dataclass
class World:
    """Ids only (the rows change under the tests' feet), and the world's markers."""

    name: str
    requester_id: int
    hub_id: int
    patient_id: int
    request_id: int  # booked, with a study and a report
    open_request_id: int  # submitted, not booked: in the hub's inbox
    appointment_id: int
    moved_appointment_id: int | None  # the booking it was moved from, at another hub
    device_id: int
    procedure_id: int
    reply_id: int
    reconciliation_id: int  # a study held for the hub to reconcile
    waitlist_id: int  # the open request on its hub's waiting list
    patient_cid: str
    patient_birth: date
    day: date  # local day of the appointment
    markers: list[str] = field(default_factory=list)
    prior_id: int = 0  # a referral study on the open request, waiting for the hub
    attachment_id: int | None = None  # a lab result sent with the request


@dataclass
class Worlds:
    worlds: dict[str, World]
    hospitals: dict[str, int]  # code -> id
    users: dict[str, int]  # username -> id
    # Per hub code: one of each capacity object, to try from the other hub.
    devices: dict[str, int]
    templates: dict[str, int]
    quotas: dict[str, int]
    closures: dict[str, int]
    day: date  # the (local) day the worlds' appointments are on
    admin_rows: dict[str, int]
    # A free slot per hub: (device id, ISO start), for move and book forms.
    free_slots: dict[str, tuple[int, str]]
    # Staff notifications (the worlds' reschedules and reports made them): id -> the code
    # of the hospital whose staff read them.
    notifications: dict[int, str] = field(default_factory=dict)
    protocols: dict[str, int] = field(default_factory=dict)  # hub code -> a protocol id

    def __getitem__(self, name: str) -> World:
        return self.worlds[name]

    def visible(self, username: str, world: str) -> bool:
        return username == "admin" or username in VISIBLE_TO[world]

    def hidden_markers(self, username: str) -> dict[str, list[str]]:
        """Markers of every world ``username`` must not see, by world."""
        return self._hidden(lambda world: self.visible(username, world))

    def hidden_markers_for_hospital(self, code: str) -> dict[str, list[str]]:
        """The same for a system acting for a hospital (FHIR client, HL7 sender): it sees
        the worlds it requested and, as a hub, those addressed to it."""
        return self._hidden(lambda world: code in PLAN[world][:2])

    def hidden_markers_for_hub(self, code: str) -> dict[str, list[str]]:
        """The same for a scanner: it sees the worlds booked at its hub."""
        return self._hidden(lambda world: PLAN[world][1] == code)

    def _hidden(self, visible) -> dict[str, list[str]]:
        # A world's patient markers are hidden only when none of the patient's worlds shows.
        hidden: dict[str, list[str]] = {}
        for name, world in self.worlds.items():
            if visible(name):
                continue
            patient_seen = any(
                visible(other)
                for other, w in self.worlds.items()
                if w.patient_id == world.patient_id
            )
            hidden[name] = world.markers[:REQUEST_MARKERS] + (
                [] if patient_seen else world.markers[REQUEST_MARKERS:]
            )
        return hidden


def _hospital(code: str) -> Hospital:
    return db.session.scalar(select(Hospital).where(Hospital.code == code))


def _device(ae: str) -> Device:
    return db.session.scalar(select(Device).where(Device.ae_title == ae))


def _procedure(code: str | None, modality: str) -> Procedure:
    query = select(Procedure).where(Procedure.is_active.is_(True))
    query = (
        query.where(Procedure.code == code)
        if code
        else query.where(Procedure.modality_code == modality).order_by(Procedure.code)
    )
    return db.session.scalars(query).first()


def build_worlds() -> Worlds:
    """On top of ``load_demo()``: extra users and API clients, the four worlds. Commits."""
    now = utcnow()
    hospitals = {code: _hospital(code) for code in (KUDRANG, KOSUM, CHIANG_YUEN, MKH, UDN)}
    for username, role, code in EXTRA_USERS:
        user = User(
            username=username,
            full_name=username,
            role=role,
            hospital_id=hospitals[code].id,
            created_at=now,
        )
        user.set_password("radbook-demo")
        db.session.add(user)
    for code, token in API_TOKENS.items():
        if code != KUDRANG:
            db.session.add(
                ApiClient(
                    name=f"his-{code}",
                    hospital_id=hospitals[code].id,
                    token_sha256=ApiClient.hash_token(token),
                )
            )
    # The demo registers Kud Rang's, Kosum's and the hub's systems as HL7 senders from
    # 127.0.0.1; the two Region 8 hospitals call from there too (one interface engine
    # relaying for all five), so the HL7 matrix tests scope by MSH-4 among registered ones.
    for code in (CHIANG_YUEN, UDN):
        db.session.add(
            Hl7Sender(
                hospital_id=hospitals[code].id,
                name=f"his-{code}",
                addresses="127.0.0.1",
                created_at=now,
            )
        )
    # Rows for the admin's "outside systems" pages (rotated, revoked, removed by the matrix).
    matrix_client = ApiClient(
        name="matrix-client",
        hospital_id=hospitals[KOSUM].id,
        token_sha256=ApiClient.hash_token("matrix-client-token"),
    )
    matrix_sender = Hl7Sender(
        hospital_id=hospitals[KOSUM].id, name="matrix-sender", addresses="10.99.0.1", created_at=now
    )
    db.session.add_all([matrix_client, matrix_sender])
    db.session.flush()
    matrix_rows = {"api_client": matrix_client.id, "hl7_sender": matrix_sender.id}
    patients: dict[str, Patient] = {}
    for key, (stem, given, hn, code, born) in PATIENTS.items():
        patients[key] = register_patient(
            SETUP,
            now,
            id_type=IdentifierType.NATIONAL_ID,
            id_value=stem + national_id_check_digit(stem),
            prefix="MR",
            given_name_th=given,
            family_name_th="ทดสอบสิทธิ์",
            birth_date=born,
            sex=Sex.MALE,
            hospital_id=hospitals[code].id,
            hn=hn,
            phone="0812345678",
            commit=False,
        )
    # Bookings at MKH queue HL7 orders to this destination (the admin outbox pages).
    destination = Hl7Destination(
        name="pacs-mkh", host="127.0.0.1", port=1, hub_hospital_id=hospitals[MKH].id
    )
    db.session.add(destination)
    db.session.flush()

    # One day on which every world's scanner has a free slot, a few days ahead.
    day = local_today(now) + timedelta(days=3)
    worlds: dict[str, World] = {}
    for name, (req_code, hub_code, proc_code, ae, patient_key) in PLAN.items():
        device = _device(ae)
        procedure = _procedure(proc_code, device.modality_code)
        patient = patients[patient_key]
        new_request = partial(
            create_request,
            SETUP,
            now,
            patient=patient,
            procedure=procedure,
            requesting_hospital_id=hospitals[req_code].id,
            hub_hospital_id=hospitals[hub_code].id,
            commit=False,
        )
        slots_on = partial(
            find_slots,
            now,
            procedure,
            requesting_hospital_id=hospitals[req_code].id,
            patient=patient,
            date_from=day,
            limit=1,
        )
        request = new_request(
            indication=f"ข้อบ่งชี้ลับ-{name}-ZX9",
            requesting_clinician=f"หมอลับ-{name}",
            placer_order_number=f"PLC{name}7301",
        )
        moved = None
        if name in MOVED_FROM:
            first = _device(MOVED_FROM[name])
            slot = slots_on(device_id=first.id)[0]
            moved = book(SETUP, now, request, first, slot.start_at, commit=False)
        slot = slots_on(device_id=device.id, exclude_appointment_id=moved.id if moved else None)[0]
        day = local_today(slot.start_at) if not worlds else day
        if moved is not None:
            appointment = reschedule(
                SETUP, now, moved, device, slot.start_at, reason="ย้ายไปโรงพยาบาลอื่น", commit=False
            )
        else:
            appointment = book(SETUP, now, request, device, slot.start_at, commit=False)
        link_study(
            SETUP,
            now,
            source=StudySource.HL7,
            study_instance_uid=appointment.study_instance_uid,
            appointment=appointment,
            request=request,
            commit=False,
        )
        attach_report(
            SETUP, now, request, text=f"ผลอ่านลับ-{name}-QV7", reported_by="รังสีแพทย์", commit=False
        )
        open_request = new_request(
            indication=f"ข้อบ่งชี้รอ-{name}-ZX8", placer_order_number=f"PLC{name}7302"
        )
        reply = LinePatientReply(
            kind=LineReplyKind.CHANGE,
            appointment_id=appointment.id,
            request_id=request.id,
            hub_hospital_id=appointment.hub_hospital_id,
            patient_id=patient.id,
            line_user_id="U" + name.lower() * 16,
            received_at=now,
        )
        db.session.add(reply)
        # A study in the hub's PACS with the booking's accession number but somebody
        # else's patient ID: held for the hub to reconcile.
        held = link_or_hold(
            SETUP,
            now,
            source=StudySource.PACS_QUERY,
            study_instance_uid=f"2.25.7301{appointment.id}",
            appointment=appointment,
            identity=ReportedIdentity(patient_id="NOBODY7301", name="Nobody^Else"),
            images_in_pacs=True,
            commit=False,
        )
        # A study listed as sent with the open request, arrived in the hub's PACS under
        # another patient ID: waiting for the hub to confirm the patient.
        prior = add_prior_study(
            Actor(Interface.WEB, hospital_id=open_request.requesting_hospital_id),
            now,
            open_request,
            modality_code=procedure.modality_code,
            accession_number=f"PRI{name}7303",
            commit=False,
        )
        record_arrival(
            SETUP,
            now,
            prior,
            study_instance_uid=f"2.25.7303{appointment.id}",
            series_count=1,
            instance_count=1,
            identity=ReportedIdentity(patient_id="NOBODY7303"),
            commit=False,
        )
        attachment = add_attachment(
            SETUP,
            now,
            request,
            kind=AttachmentKind.LAB_RESULT,
            filename=f"lab-{name}.pdf",
            data=b"%PDF-1.4 " + name.encode(),
            commit=False,
        )
        waiting = WaitlistEntry(
            request_id=open_request.id,
            hub_hospital_id=open_request.hub_hospital_id,
            patient_id=patient.id,
            added_at=now,
        )
        db.session.add(waiting)
        db.session.flush()
        _stem, given, hn, _code, born = PATIENTS[patient_key]
        worlds[name] = World(
            name=name,
            requester_id=request.requesting_hospital_id,
            hub_id=request.hub_hospital_id,
            patient_id=patient.id,
            request_id=request.id,
            open_request_id=open_request.id,
            appointment_id=appointment.id,
            moved_appointment_id=moved.id if moved is not None else None,
            device_id=device.id,
            procedure_id=procedure.id,
            reply_id=reply.id,
            reconciliation_id=held.id,
            waitlist_id=waiting.id,
            prior_id=prior.id,
            attachment_id=attachment.id,
            patient_cid=patient.id_value,
            patient_birth=born,
            day=local_today(appointment.start_at),
            markers=[
                request.placer_order_number,
                request.indication,
                f"ผลอ่านลับ-{name}-QV7",
                appointment.accession_number,
                open_request.placer_order_number,
                open_request.indication,
                given,
                hn,
                patient.id_value,
            ],
        )

    devices, templates, quotas, closures = {}, {}, {}, {}
    referrer = {MKH: KUDRANG, UDN: CHIANG_YUEN}
    for hub_code, ae in ((MKH, "MKH_CT1"), (UDN, "UDN_CT2")):
        device = _device(ae)
        devices[hub_code] = device.id
        templates[hub_code] = device_template_id(device)
        quotas[hub_code] = create_quota(
            SETUP,
            now,
            hub_hospital_id=hospitals[hub_code].id,
            referring_hospital_id=hospitals[referrer[hub_code]].id,
            slots=2,
            device=device,
            commit=False,
        ).id
        start = local_datetime(day + timedelta(days=30), datetime.min.time())
        closures[hub_code] = add_closure(
            SETUP,
            now,
            kind=ClosureKind.DEVICE_DOWNTIME,
            start_at=start,
            end_at=start + timedelta(hours=4),
            device=device,
            name_th="ปิดซ่อม",
            commit=False,
        ).id

    journal = Hl7InboundMessage(
        received_at=now,
        sending_facility=KUDRANG,
        hospital_id=hospitals[KUDRANG].id,
        message_type="ADT^A08",
        outcome=Hl7Outcome.ACCEPTED,
        raw="MSH|^~\\&|",
        ack="",
    )
    db.session.add(journal)
    # Kut Rang's own PACS (nothing listens there: a search answers "did not answer").
    db.session.add(
        HospitalPacs(
            hospital_id=hospitals[KUDRANG].id,
            host="127.0.0.1",
            port=9,
            ae_title="KR_PACS",
            updated_at=now,
        )
    )
    db.session.flush()
    line_row = LineOutbox(
        kind=LineMessageKind.CONFIRMATION,
        status=LineOutboxStatus.FAILED,
        line_user_id="U" + "km" * 16,
        patient_id=worlds["KM"].patient_id,
        appointment_id=worlds["KM"].appointment_id,
        messages=[{"type": "text", "text": "x"}],
        summary="นัดหมาย",
        due_at=now,
        created_at=now,
    )
    db.session.add(line_row)
    db.session.flush()
    line_row_id = line_row.id
    outbox_row = db.session.scalar(select(Hl7OutboxMessage.id).limit(1))
    free_slots = {}
    for hub_code, world in ((MKH, "KM"), (UDN, "CU")):
        device = db.session.get(Device, worlds[world].device_id)
        request = db.session.get(ImagingRequest, worlds[world].request_id)
        slot = find_slots(
            now,
            request.procedure,
            requesting_hospital_id=request.requesting_hospital_id,
            device_id=device.id,
            date_from=day + timedelta(days=7),
            limit=1,
        )[0]
        free_slots[hub_code] = (device.id, slot.start_at.isoformat())
    protocols = {}
    for hub_code in (MKH, UDN):
        protocol = HubProtocol(
            hospital_id=hospitals[hub_code].id,
            modality_code="CT",
            code=f"MTX-{hub_code}",
            name_th="โปรโตคอลทดสอบ",
            name_en="Matrix protocol",
            contrast=False,
        )
        db.session.add(protocol)
        db.session.flush()
        protocols[hub_code] = protocol.id
    codes = {h.id: code for code, h in hospitals.items()}
    notifications = {
        n.id: codes[n.hospital_id]
        for n in db.session.scalars(select(StaffNotification))
        if n.hospital_id in codes
    }
    db.session.commit()
    hospitals_ids = {code: h.id for code, h in hospitals.items()}
    users = {u.username: u.id for u in db.session.scalars(select(User))}
    destination_id, journal_id = destination.id, journal.id
    db.session.close()

    return Worlds(
        worlds=worlds,
        hospitals=hospitals_ids,
        users=users,
        devices=devices,
        templates=templates,
        quotas=quotas,
        closures=closures,
        day=day,
        admin_rows={
            "destination": destination_id,
            "journal": journal_id,
            "line_outbox": line_row_id,
            "outbox": outbox_row or 0,
            **matrix_rows,
        },
        free_slots=free_slots,
        notifications=notifications,
        protocols=protocols,
    )


def device_template_id(device: Device) -> int:
    from scheduling.models import CapacityTemplate

    return db.session.scalar(
        select(CapacityTemplate.id).where(CapacityTemplate.device_id == device.id).limit(1)
    )
