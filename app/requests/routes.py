"""Views for community-hospital staff. Each validates a form, calls one ``scheduling``
operation, and renders; a DomainError is shown in the reader's language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from app.args import row_id
from app.extensions import db
from app.filters import be_date
from app.labels import label
from app.pdpa.reads import audit_read
from app.requests import slots
from app.requests.forms import (
    BookForm,
    PatientForm,
    PatientLookupForm,
    RequestForm,
    ScreeningFields,
    ScreeningForm,
)
from app.requests.slip import qr_svg, slip_link
from app.webkit.forms import ReasonForm, options
from app.webkit.views import FORM, attempt, locale, role_required, show_refusal
from scheduling.access import can_view_patient, can_view_request, patient_scope
from scheduling.attachments import MAX_BYTES, MAX_MB, add_attachment, sniff
from scheduling.availability import SlotOrder, warning_message
from scheduling.booking import book
from scheduling.booking import reschedule as reschedule_appointment
from scheduling.clock import local_today, utcnow
from scheduling.errors import DomainError
from scheduling.limits import date_in_range
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AttachmentKind,
    Device,
    Hospital,
    IdentifierType,
    ImagingRequest,
    Modality,
    Patient,
    PatientHN,
    Priority,
    Procedure,
    RequestStatus,
    Role,
    Sex,
    TreatmentRight,
)
from scheduling.patients import (
    demographic_changes,
    find_patient,
    prefix_text,
    register_patient,
    validate_national_id,
)
from scheduling.regions import region_of, road_distance
from scheduling.requests import cancel_request, create_request, update_screening
from scheduling.screening import missing, sections_for
from scheduling.states import (
    BOOKABLE_REQUEST_STATUSES,
    LIVE_APPOINTMENT_STATUSES,
    OPEN_REQUEST_STATUSES,
)
from scheduling.thaidate import EN_MONTHS_SHORT, THAI_MONTHS_SHORT
from scheduling.tx import rollback_on_error

# The pilot was ultrasound; the rest follow in the order hubs opened them to referrals.
MODALITY_ORDER = ("US", "CT", "MR", "DX", "CR", "MG", "BMD", "RF", "NM", "XA")
NAME_SEARCH_LIMIT = 20


bp = Blueprint("requests", __name__, url_prefix="/requests")
# Community-hospital staff (and admins, who may act for them).
requester_required = role_required(Role.REQUESTER)


def _patient_or_404(patient_id: int) -> Patient:
    patient = db.session.get(Patient, patient_id)
    # 404 rather than 403: do not confirm another hospital's patient exists.
    if patient is None or not can_view_patient(current_user, patient):
        abort(404)
    audit_read("patient.view", [patient], entity=patient, page=request.endpoint)
    return patient


# --- find or register a patient ---------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@requester_required
def new():
    """Step 1: find the patient by national ID, HN or name; else register them.

    POST only for the search (patient identifiers never go into a URL); a national
    ID that is not registered here opens the registration form in the same answer.
    """
    form = PatientLookupForm()
    results: list[Patient] | None = None
    if form.validate_on_submit():
        query = form.q.data.strip()
        compact = re.sub(r"[\s-]", "", query)
        if compact.isdigit() and len(compact) >= 10:
            # Looks like a national ID: it must be a valid one.
            try:
                cid = validate_national_id(compact)
            except DomainError as exc:
                show_refusal(exc, form, fallback="q")
            else:
                patient = db.session.scalar(
                    patient_scope(current_user).where(
                        Patient.id_type == IdentifierType.NATIONAL_ID, Patient.id_value == cid
                    )
                )
                if patient is not None:
                    return redirect(url_for("requests.create", patient_id=patient.id))
                flash(
                    _("No patient with this national ID at your hospital yet: register them."),
                    "info",
                )
                register = PatientForm(formdata=None)
                register.id_value.data = cid
                return render_template("requests/patient_form.html", form=register, patient=None)
        else:
            results = _search_patients(query)
            audit_read("patient.search", results)
    return render_template("requests/patient_lookup.html", form=form, results=results)


def _search_patients(query: str) -> list[Patient]:
    """This hospital's patients by exact HN, or by every word appearing in the Thai name."""
    hospital_id = current_user.hospital_id
    by_hn = (
        select(PatientHN.patient_id)
        .where(PatientHN.hospital_id == hospital_id, PatientHN.hn == query.upper())
        .scalar_subquery()
    )
    words = [w for w in query.split() if w]
    name_match = and_(
        *[
            or_(
                Patient.given_name_th.contains(w, autoescape=True),
                Patient.family_name_th.contains(w, autoescape=True),
                Patient.given_name_en.ilike(f"%{w}%"),
                Patient.family_name_en.ilike(f"%{w}%"),
            )
            for w in words
        ]
    )
    stmt = (
        patient_scope(current_user)
        .where(or_(Patient.id.in_(by_hn), name_match))
        .options(selectinload(Patient.hospital_numbers))
        .order_by(Patient.given_name_th, Patient.family_name_th)
        .limit(NAME_SEARCH_LIMIT)
    )
    return list(db.session.scalars(stmt))


@bp.route("/patients/new", methods=["GET", "POST"])
@requester_required
def register_patient_view():
    form = PatientForm()
    if form.validate_on_submit():
        existing = _own_record(form)
        if existing is not None and form.confirm_id.data != str(existing.id):
            # The hospital already keeps this person: show what is kept beside what was
            # typed and let the clerk confirm the changes; never overwrite silently.
            if not _hn_is_free(form):
                return render_template("requests/patient_form.html", form=form, patient=None)
            changes = _changes_shown(form, existing)
            audit_read("patient.view", [existing], entity=existing, page=request.endpoint)
            if not changes:
                flash(_("This patient is already registered at your hospital."), "info")
                return redirect(url_for("requests.create", patient_id=existing.id))
            form.confirm_id.data = str(existing.id)
            flash(
                _(
                    "This national ID is already registered at your hospital. Check the "
                    "changes below, then confirm them or go back."
                ),
                "warning",
            )
            return render_template(
                "requests/patient_form.html",
                form=form,
                patient=None,
                existing=existing,
                changes=changes,
            )
        if _save_patient(form, None):
            return redirect(url_for("requests.create", patient_id=form.saved_patient.id))
    return render_template("requests/patient_form.html", form=form, patient=None)


def _typed_identifier(form: PatientForm) -> tuple[IdentifierType, str]:
    id_type = IdentifierType[form.id_type.data]
    id_value = form.id_value.data.strip()
    if id_type is not IdentifierType.NATIONAL_ID:
        id_value = id_value.upper()
    return id_type, id_value


def _own_record(form: PatientForm) -> Patient | None:
    """This hospital's own record of the identifier typed (never another hospital's)."""
    id_type, id_value = _typed_identifier(form)
    return find_patient(id_type, id_value, hospital_id=current_user.hospital_id)


def _typed_values(form: PatientForm) -> dict:
    return {
        "prefix": form.prefix.data,
        "given_name_th": form.given_name_th.data,
        "family_name_th": form.family_name_th.data or "",
        "birth_date": form.birth_date,
        "sex": Sex[form.sex.data],
        "phone": form.phone.data,
        "given_name_en": None,
        "family_name_en": None,
        "medical_alerts": None,
    }


# The fields a clerk types, in the order of the form; romanised names follow the Thai.
_SHOWN_CHANGES = ("prefix", "given_name_th", "family_name_th", "birth_date", "sex", "phone", "hn")


def _changes_shown(form: PatientForm, existing: Patient) -> list[tuple[str, str, str]]:
    """(field label, kept now, typed) for each field the save would change."""
    changes = demographic_changes(
        existing, hn=(form.hn.data or "").strip().upper() or None, **_typed_values(form)
    )
    labels = {
        "prefix": form.prefix.label.text,
        "given_name_th": form.given_name_th.label.text,
        "family_name_th": form.family_name_th.label.text,
        "birth_date": _("Birth date"),
        "sex": form.sex.label.text,
        "phone": form.phone.label.text,
        "hn": form.hn.label.text,
    }

    def shown(name: str, value) -> str:
        if value in (None, ""):
            return "—"
        if name == "prefix":
            return prefix_text(value, locale()) or value
        if name == "birth_date":
            return be_date(date.fromisoformat(value))
        if name == "sex":
            return label(Sex[value])
        return str(value)

    return [
        (labels[name], shown(name, changes[name][0]), shown(name, changes[name][1]))
        for name in _SHOWN_CHANGES
        if name in changes
    ]


def _hn_is_free(form: PatientForm) -> bool:
    """False (with the error beside the field) when the HN typed is another patient's here."""
    id_type, id_value = _typed_identifier(form)
    hn = (form.hn.data or "").strip().upper() or None
    if hn:
        owner = db.session.scalar(
            select(Patient)
            .join(PatientHN)
            .where(PatientHN.hospital_id == current_user.hospital_id, PatientHN.hn == hn)
        )
        if owner is not None and (owner.id_type, owner.id_value) != (id_type, id_value):
            form.hn.errors.append(_("This HN belongs to another patient at your hospital"))
            return False
    return True


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@requester_required
def edit_patient(patient_id: int):
    patient = _patient_or_404(patient_id)
    if patient.hospital_id != current_user.hospital_id and current_user.role is not Role.ADMIN:
        abort(404)
    form = PatientForm(obj=patient if request.method == "GET" else None)
    if request.method == "GET":
        form.id_type.data = patient.id_type.name
        form.sex.data = patient.sex.name
        form.hn.data = patient.hn
        form.fill_birth_date(patient.birth_date)
    if form.validate_on_submit() and _save_patient(form, patient):
        flash(_("Patient details saved."), "success")
        return redirect(url_for("requests.create", patient_id=patient.id))
    return render_template("requests/patient_form.html", form=form, patient=patient)


# Which field of the patient form a ``register_patient`` refusal belongs to.
PATIENT_FIELD_OF_CODE = {
    "cid-length": "id_value",
    "cid-checksum": "id_value",
    "id-value": "id_value",
    "prefix": "prefix",
    "name": "given_name_th",
    "birth-date": "birth_year_be",
    "hn-taken": "hn",
}


def _save_patient(form: PatientForm, patient: Patient | None) -> bool:
    """Call ``register_patient``; put any error beside the field it concerns.

    Always saves to this hospital's own record of the person; ``patient`` is the record
    being edited (its page is the confirmation), None for the registration form.
    """
    id_type, id_value = _typed_identifier(form)
    if patient is not None and (patient.id_type, patient.id_value) != (id_type, id_value):
        # Changing the identifier would silently merge into another person's record.
        form.id_value.errors.append(_("The identifier of a registered patient cannot be changed"))
        return False
    if not _hn_is_free(form):
        return False
    hospital_id = patient.hospital_id if patient is not None else current_user.hospital_id
    form.saved_patient = attempt(
        register_patient,
        form=form,
        fields=PATIENT_FIELD_OF_CODE,
        fallback=FORM,
        id_type=id_type,
        id_value=id_value,
        hospital_id=hospital_id,
        hn=(form.hn.data or "").strip().upper() or None,
        # The edit page shows every field: an emptied one was emptied on purpose.
        keep_missing=patient is None,
        **_typed_values(form),
    )
    return form.saved_patient is not None


# --- the request -------------------------------------------------------------------------


def _procedures() -> list[Procedure]:
    rows = db.session.scalars(
        select(Procedure).where(Procedure.is_active.is_(True)).order_by(Procedure.code)
    ).all()
    rank = {code: i for i, code in enumerate(MODALITY_ORDER)}
    return sorted(rows, key=lambda p: (rank.get(p.modality_code, 99), p.code))


def _modalities(procedures: list[Procedure]) -> list[Modality]:
    used = {p.modality_code for p in procedures}
    rows = db.session.scalars(select(Modality).where(Modality.code.in_(used))).all()
    rank = {code: i for i, code in enumerate(MODALITY_ORDER)}
    return sorted(rows, key=lambda m: rank.get(m.code, 99))


def _hubs() -> list[Hospital]:
    """Hubs of the requester's own health region first (own province first among them),
    then the others; each group by province and name."""
    own = current_user.hospital
    rows = db.session.scalars(select(Hospital).where(Hospital.is_hub.is_(True))).all()
    return sorted(
        rows,
        key=lambda h: (
            region_of(h) != region_of(own),
            h.province_th != own.province_th,
            h.province_th,
            h.name_th,
        ),
    )


@bp.route("/patients/<int:patient_id>/request", methods=["GET", "POST"])
@requester_required
def create(patient_id: int):
    """Step 2: the request itself. On success, straight on to choosing a slot."""
    patient = _patient_or_404(patient_id)
    procedures = _procedures()
    modalities = _modalities(procedures)
    hubs = _hubs()
    form = RequestForm()
    form.modality.choices = options(
        ((m.code, m.name_en if locale() == "en" else m.name_th) for m in modalities),
        first=("", _("All modalities")),
    )
    form.procedure_id.choices = options((p.id, p.code) for p in procedures)
    form.hub_hospital_id.choices = options(
        ((str(h.id), f"{h.display_name(locale())} ({localized_province(h)})") for h in hubs),
        first=("", _("Any hub: earliest slot")),
    )
    copied = _copied_request(patient) if request.method == "GET" else None
    if copied is not None:
        _fill_copy(form, copied)
    if request.method == "GET" and request.args.get("modality"):
        form.modality.data = request.args["modality"]
    if form.validate_on_submit():
        by_id = {p.id: p for p in procedures}
        procedure = by_id.get(form.procedure_id.data)
        files = _uploaded_files(form)
        if procedure is None:
            form.procedure_id.errors.append(_("Choose a procedure"))
        elif files is not None:
            imaging_request = attempt(
                _create_with_files,
                files,
                form=form,
                fields=ScreeningFields.refusal_fields(),
                fallback=FORM,
                patient=patient,
                procedure=procedure,
                requesting_hospital_id=current_user.hospital_id,
                hub_hospital_id=int(form.hub_hospital_id.data)
                if form.hub_hospital_id.data
                else None,
                priority=Priority[form.priority.data],
                indication=form.indication.data.strip(),
                requesting_clinician=form.requesting_clinician.data.strip(),
                icd10_code=form.icd10_code.data,
                treatment_right=TreatmentRight[form.treatment_right.data],
                referral_number=form.referral_number.data,
                screening=form.answers(),
            )
            if imaging_request is not None:
                flash(_("Request sent. Now choose an appointment slot."), "success")
                return redirect(_after_create(imaging_request))
    today = local_today()
    return render_template(
        "requests/request_form.html",
        form=form,
        patient=patient,
        procedures=procedures,
        modalities=modalities,
        sections={
            p.id: " ".join(sorted(s.value for s in sections_for(p, patient, today)))
            for p in procedures
        },
        copied=copied,
    )


def _uploaded_files(form: RequestForm) -> list[tuple[AttachmentKind, str, bytes]] | None:
    """The files sent with the form; None (the error beside its field) when one is refused.

    Checked here before anything is saved, with the core's own rules, so a refused file
    leaves no request behind; ``add_attachment`` checks again when saving.
    """
    found = []
    for name, kind in (
        ("referral_letter", AttachmentKind.REFERRAL_LETTER),
        ("lab_results", AttachmentKind.LAB_RESULT),
    ):
        field = getattr(form, name)
        for upload in request.files.getlist(field.name):
            if not upload or not upload.filename:
                continue
            data = upload.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                field.errors = [_("The file is larger than %(mb)s MB", mb=MAX_MB)]
                return None
            if sniff(data) is None:
                field.errors = [_("Attach a PDF, JPEG or PNG file")]
                return None
            found.append((kind, upload.filename, data))
    return found


def _create_with_files(actor, now, files, **values) -> ImagingRequest:
    """The request and its files in one transaction: both are saved, or neither."""
    with rollback_on_error(True):
        imaging_request = create_request(actor, now, commit=False, **values)
        for kind, filename, data in files:
            add_attachment(
                actor, now, imaging_request, kind=kind, filename=filename, data=data, commit=False
            )
        db.session.commit()
    return imaging_request


def _copied_request(patient: Patient) -> ImagingRequest | None:
    """The rejected (or cancelled) request of this patient to copy, from ``?copy=<id>``."""
    source_id = _int_arg("copy")
    if source_id is None:
        return None
    source = db.session.get(ImagingRequest, source_id)
    if (
        source is None
        or source.patient_id != patient.id
        or source.requesting_hospital_id != current_user.hospital_id
    ):
        abort(404)
    return source


def _fill_copy(form: RequestForm, source: ImagingRequest) -> None:
    form.procedure_id.data = source.procedure_id
    form.modality.data = source.procedure.modality_code
    form.indication.data = source.indication
    form.icd10_code.data = source.icd10_code
    form.priority.data = source.priority.name
    form.requesting_clinician.data = source.requesting_clinician
    form.treatment_right.data = source.treatment_right.name if source.treatment_right else ""
    form.referral_number.data = source.referral_number
    form.fill(source.screening)


def localized_province(hospital: Hospital) -> str:
    return hospital.province_en if locale() == "en" else hospital.province_th


def _after_create(imaging_request: ImagingRequest) -> str:
    return url_for("requests.slots_view", request_id=imaging_request.id)


# --- choose a slot, confirm, reschedule -------------------------------------------------


def _own_request_or_404(request_id: int) -> ImagingRequest:
    """A request of the user's hospital (admins: any), with what the pages show loaded."""
    imaging_request = db.session.get(
        ImagingRequest,
        request_id,
        options=[
            selectinload(ImagingRequest.appointments),
            selectinload(ImagingRequest.patient),
            selectinload(ImagingRequest.procedure),
        ],
    )
    if imaging_request is None or not can_view_request(current_user, imaging_request):
        abort(404)
    if (
        current_user.role is not Role.ADMIN
        and imaging_request.requesting_hospital_id != current_user.hospital_id
    ):
        abort(404)
    audit_read("request.view", [imaging_request], entity=imaging_request, page=request.endpoint)
    return imaging_request


def _live_appointment(imaging_request: ImagingRequest) -> Appointment | None:
    live = [a for a in imaging_request.appointments if a.status in LIVE_APPOINTMENT_STATUSES]
    return live[-1] if live else None


def _parse_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _int_arg(name: str) -> int | None:
    return row_id(request.args.get(name, ""))


def _slot_order() -> tuple[SlotOrder, int]:
    """The order and radius asked in the query string; anything unknown: the defaults."""
    try:
        order = SlotOrder(request.args.get("order", ""))
    except ValueError:
        order = SlotOrder.REGION_FIRST
    within_km = _int_arg("km")
    if within_km not in slots.RADII_KM:
        within_km = slots.DEFAULT_RADIUS_KM
    return order, within_km


def _slot_page(imaging_request: ImagingRequest, *, moving: Appointment | None):
    """The slot page for a first booking or, with ``moving``, a reschedule."""
    now = utcnow()
    exclude = moving.id if moving is not None else None
    hubs = slots.hubs_for(imaging_request)
    hub_ids = {h.id for h in hubs}
    order, within_km = _slot_order()
    own_hub = imaging_request.hub_hospital_id
    if own_hub not in hub_ids:
        own_hub = None
    chosen_hub = _int_arg("hub")
    if chosen_hub not in hub_ids:
        chosen_hub = own_hub  # else (None) the hub of the earliest suggestion, below
    day = _parse_day(request.args.get("day"))
    # The calendar's search, when it is of the request's own hub, also holds the earliest
    # suggestions and the chosen day's slots: one find_slots for the three lists.
    calendar = pages = None
    if chosen_hub is not None:
        pages, calendar = _calendar(now, imaging_request, chosen_hub, day, exclude)
    suggestions = slots.suggestions(
        now,
        imaging_request,
        hub_hospital_id=own_hub if moving is None else None,
        exclude_appointment_id=exclude,
        order=order,
        within_km=within_km,
        searched=calendar,
    )
    if chosen_hub is None:
        chosen_hub = suggestions[0].hub.id if suggestions else hubs[0].id if hubs else None
        if chosen_hub is not None:
            pages, calendar = _calendar(now, imaging_request, chosen_hub, day, exclude)
    day_list = []
    if calendar is not None and day is not None:
        day_list = slots.day_slots(
            now, imaging_request, chosen_hub, day, exclude_appointment_id=exclude, searched=calendar
        )
    return render_template(
        "requests/slots.html",
        req=imaging_request,
        moving=moving,
        suggestions=suggestions,
        hubs=hubs,
        distances=slots.distances_to(imaging_request, hubs),
        order=order,
        orders=SlotOrder,
        within_km=within_km,
        radii=slots.RADII_KM,
        chosen_hub=chosen_hub,
        weeks=calendar.weeks if calendar is not None else [],
        day=day,
        day_slots=day_list,
        weekday_names=[_(name) for name in slots.WEEKDAY_SHORT],
        pages=pages,
        few_left=slots.FEW_LEFT,
        today=local_today(now),
    )


def _calendar(now, req: ImagingRequest, hub_id: int, day: date | None, exclude: int | None):
    pages = _calendar_pages(now, req, hub_id, day)
    return pages, slots.calendar(
        now, req, hub_id, exclude_appointment_id=exclude, start=pages.start
    )


@dataclass(frozen=True)
class CalendarPages:
    start: date  # the Monday the calendar shows first
    previous: date | None
    next: date | None


def _calendar_pages(now: datetime, req: ImagingRequest, hub_id: int, day: date | None):
    """Which weeks to show (``?weeks=<Monday>``, else the chosen day's), within
    this week .. the hub's booking horizon."""
    first = slots.calendar_start(now)
    last = slots.last_bookable_day(now, req, hub_id)
    step = timedelta(days=7 * slots.CALENDAR_WEEKS)
    wanted = _parse_day(request.args.get("weeks")) or day or first
    wanted = min(max(wanted, first), max(last, first))
    start = first + step * ((wanted - first) // step)
    return CalendarPages(
        start=start,
        previous=start - step if start > first else None,
        next=start + step if start + step <= last else None,
    )


@bp.route("/<int:request_id>/slots")
@requester_required
def slots_view(request_id: int):
    """Step 3: the earliest slots across hubs first, then a calendar of one hub."""
    imaging_request = _own_request_or_404(request_id)
    live = _live_appointment(imaging_request)
    if live is not None:
        return redirect(url_for("requests.reschedule", request_id=request_id))
    if imaging_request.status not in BOOKABLE_REQUEST_STATUSES:
        flash(_("This request cannot be booked any more."), "warning")
        return redirect(url_for("main.request_detail", request_id=request_id))
    if _screening_incomplete(imaging_request):
        return redirect(url_for("requests.screening", request_id=request_id))
    return _slot_page(imaging_request, moving=None)


def _screening_incomplete(imaging_request: ImagingRequest) -> bool:
    """The check before booking: incomplete screening is completed first (with a word why).

    Only the clinical screening holds booking up; a missing treatment right or referral
    number (an HIS order may lack them) is shown on the request page, not enforced here.
    """
    refusal = missing(imaging_request, local_today())
    if refusal is None:
        return False
    flash(
        _("Complete the screening before booking: %(why)s", why=refusal.message(locale())),
        "warning",
    )
    return True


@bp.route("/<int:request_id>/screening", methods=["GET", "POST"])
@requester_required
def screening(request_id: int):
    """Complete or correct the screening (an HIS order arrives without it)."""
    imaging_request = _own_request_or_404(request_id)
    if imaging_request.status not in OPEN_REQUEST_STATUSES | {RequestStatus.DRAFT}:
        flash(_("This request is already closed."), "warning")
        return redirect(url_for("main.request_detail", request_id=request_id))
    form = ScreeningForm()
    if request.method == "GET":
        form.fill(imaging_request.screening)
        form.referral_number.data = imaging_request.referral_number
        if imaging_request.treatment_right is not None:
            form.treatment_right.data = imaging_request.treatment_right.name
    if form.validate_on_submit():
        saved = attempt(
            update_screening,
            imaging_request,
            form=form,
            fields=ScreeningFields.refusal_fields(),
            fallback=FORM,
            screening=form.answers(),
            treatment_right=TreatmentRight[form.treatment_right.data],
            referral_number=form.referral_number.data,
        )
        if saved is not None:
            flash(_("Screening saved."), "success")
            if saved.status in BOOKABLE_REQUEST_STATUSES and _live_appointment(saved) is None:
                return redirect(url_for("requests.slots_view", request_id=request_id))
            return redirect(url_for("main.request_detail", request_id=request_id))
    today = local_today()
    return render_template(
        "requests/screening.html",
        req=imaging_request,
        form=form,
        shown={
            s.value for s in sections_for(imaging_request.procedure, imaging_request.patient, today)
        },
    )


@bp.route("/<int:request_id>/reschedule")
@requester_required
def reschedule(request_id: int):
    imaging_request = _own_request_or_404(request_id)
    live = _live_appointment(imaging_request)
    if live is None or live.status is not AppointmentStatus.BOOKED:
        flash(_("Only a booked appointment can be moved."), "warning")
        return redirect(url_for("main.request_detail", request_id=request_id))
    return _slot_page(imaging_request, moving=live)


@bp.route("/<int:request_id>/confirm", methods=["GET", "POST"])
@requester_required
def confirm(request_id: int):
    """Confirm the chosen slot; a slot lost to someone else goes back to fresh suggestions."""
    imaging_request = _own_request_or_404(request_id)
    form = BookForm(request.args) if request.method == "GET" else BookForm()
    device_id = row_id(form.device_id.data)
    device = db.session.get(Device, device_id) if device_id is not None else None
    start_at = _parse_start(form.start_at.data)
    if device is None or start_at is None:
        abort(400)
    moving = _live_appointment(imaging_request)
    back = url_for(
        "requests.reschedule" if moving else "requests.slots_view", request_id=request_id
    )
    if moving is None and _screening_incomplete(imaging_request):
        return redirect(url_for("requests.screening", request_id=request_id))
    if request.method == "POST" and form.validate():
        reason = (form.reason.data or "").strip()
        if moving is not None and not reason:
            form.reason.errors = [_("Give a reason for moving the appointment")]
        else:
            if moving is not None:
                appointment = attempt(
                    reschedule_appointment, moving, device, start_at, reason=reason
                )
            else:
                appointment = attempt(book, imaging_request, device, start_at)
            if appointment is None:
                return redirect(back)
            flash(_("Appointment booked. Print the slip for the patient."), "success")
            return redirect(url_for("requests.slip", appointment_id=appointment.id))
    duration = timedelta(minutes=imaging_request.procedure.duration_minutes)
    return render_template(
        "requests/confirm.html",
        req=imaging_request,
        device=device,
        distance=road_distance(imaging_request.requesting_hospital, device.hospital),
        start_at=start_at,
        end_at=start_at + duration,
        form=form,
        moving=moving,
        back=back,
    )


def _parse_start(raw: str | None) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw or "")
    except ValueError:
        return None
    # Year 1 or 9999 overflows on the way to UTC (found by tests/fuzz): not a slot.
    return value if value.tzinfo is not None and date_in_range(value) else None


# --- the slip ------------------------------------------------------------------------------


@bp.route("/appointments/<int:appointment_id>/slip")
@requester_required
def slip(appointment_id: int):
    """Step 4: the appointment slip, A5 by default (``?paper=a4`` for A4)."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        abort(404)
    imaging_request = _own_request_or_404(appointment.request_id)
    paper = "a4" if request.args.get("paper") == "a4" else "a5"
    # Only a live booking gets a LINE code; a cancelled or moved slip is shown for the record.
    live = appointment.status in LIVE_APPOINTMENT_STATUSES
    link = slip_link(appointment, utcnow()) if live else None
    qr = qr_svg(link.url, title=_("Scan to link LINE and open the appointment")) if link else ""
    successor = next(
        (a for a in imaging_request.appointments if a.rescheduled_from_id == appointment.id), None
    )
    return render_template(
        "requests/slip.html",
        successor=successor,
        appt=appointment,
        req=imaging_request,
        paper=paper,
        qr_svg=Markup(qr),
        link=link,
        hn=appointment.patient.hn_at(imaging_request.requesting_hospital_id),
    )


# --- cancel --------------------------------------------------------------------------------


@bp.route("/<int:request_id>/cancel", methods=["GET", "POST"])
@requester_required
def cancel(request_id: int):
    imaging_request = _own_request_or_404(request_id)
    if imaging_request.status not in OPEN_REQUEST_STATUSES | {RequestStatus.DRAFT}:
        flash(_("This request is already closed."), "warning")
        return redirect(url_for("main.request_detail", request_id=request_id))
    form = ReasonForm()
    if form.validate_on_submit():
        cancelled = attempt(
            cancel_request, imaging_request, form.reason.data.strip(), form=form, fallback="reason"
        )
        if cancelled is not None:
            flash(_("The request has been cancelled."), "success")
            return redirect(url_for("main.request_detail", request_id=request_id))
    return render_template(
        "requests/cancel.html",
        req=imaging_request,
        form=form,
        live=_live_appointment(imaging_request),
    )


# --- template helpers ----------------------------------------------------------------------


@bp.app_template_filter("month_short")
def month_short(value: date) -> str:
    names = EN_MONTHS_SHORT if locale() == "en" else THAI_MONTHS_SHORT
    return names[value.month - 1]


@bp.app_template_global("prep_warning")
def prep_warning(code: str) -> str:
    return warning_message(code, locale())
