"""The "ภาพที่ส่งมาพร้อมใบส่งตัว" section: list, mark on CD, remove (the requester);
confirm or reject whose images arrived (the hub); pick from the requester's own PACS.

Every view first finds the request the way the request page does (404 for a request
the user may not see), then the study on it (404 for another request's study).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.pdpa.reads import audit_read
from app.referrals.forms import PacsPickForm, PriorStudyForm
from app.requests.routes import MODALITY_ORDER
from app.webkit.forms import modality_options
from app.webkit.views import attempt, next_link
from scheduling.access import can_view_request
from scheduling.models import (
    ImagingRequest,
    Modality,
    Patient,
    ReferralStudy,
    RequestStatus,
    Role,
)
from scheduling.patients import record_at
from scheduling.referrals import (
    add_prior_study,
    decide_identity,
    hub_of,
    prior_studies,
    remove_prior_study,
    sender_patient_id,
    set_sent_on_cd,
)
from scheduling.states import OPEN_REQUEST_STATUSES
from scheduling.studies import ReportedIdentity
from worklist.models import HospitalPacs
from worklist.requester_pacs import PacsUnavailable, find_patient_studies

bp = Blueprint("referrals", __name__)

HUB_ROLES = (Role.SCHEDULER, Role.RADIOLOGIST)


@dataclass
class PriorRow:
    prior: ReferralStudy
    reported: ReportedIdentity
    problems: list[str]


def _is_requester(req: ImagingRequest) -> bool:
    return current_user.role is Role.ADMIN or (
        current_user.role is Role.REQUESTER
        and current_user.hospital_id == req.requesting_hospital_id
    )


def _is_hub(req: ImagingRequest) -> bool:
    return current_user.role is Role.ADMIN or (
        current_user.role in HUB_ROLES and current_user.hospital_id == hub_of(req)
    )


def _editable(req: ImagingRequest) -> bool:
    return req.status in OPEN_REQUEST_STATUSES or req.status is RequestStatus.DRAFT


def _modalities() -> list[Modality]:
    rank = {code: n for n, code in enumerate(MODALITY_ORDER)}
    found = db.session.scalars(select(Modality))
    return sorted(found, key=lambda m: (rank.get(m.code, len(rank)), m.code))


def _form(formdata=None) -> PriorStudyForm:
    form = PriorStudyForm(formdata=formdata)
    form.modality_code.choices = modality_options(_modalities())
    return form


def section(req: ImagingRequest, form: PriorStudyForm | None = None) -> dict:
    """What the section shows this user (template global ``referral_images``)."""
    priors = prior_studies(req)
    requester = _is_requester(req)
    hub = _is_hub(req)
    hub_id = hub_of(req)
    editable = requester and _editable(req)
    return {
        "rows": [
            PriorRow(
                prior=p,
                reported=ReportedIdentity.from_dict(p.reported or {}),
                problems=[x for x in p.problems.split(",") if x],
            )
            for p in priors
        ],
        "can_edit": editable,
        "can_decide": hub,
        "form": (form or _form()) if editable else None,
        "can_pick": editable
        and db.session.get(HospitalPacs, req.requesting_hospital_id) is not None,
        "hub_record": record_at(req.patient, hub_id) if hub and hub_id is not None else None,
        "next": request.path,
    }


def _request_or_404(request_id: int) -> ImagingRequest:
    req = db.session.get(ImagingRequest, request_id)
    # 404, not 403, for another hospital's request: do not confirm that it exists.
    if req is None or not can_view_request(current_user, req):
        abort(404)
    return req


def _prior_or_404(prior_id: int) -> ReferralStudy:
    """A listed study on a request the user may see (404 otherwise, as for a missing one)."""
    prior = db.session.get(ReferralStudy, prior_id)
    if prior is None or not can_view_request(current_user, prior.request):
        abort(404)
    return prior


def _refuse(req: ImagingRequest) -> None:
    # The other party sees the request but may not do this: 403; a requester is shown no
    # more than for a request that is not its own.
    abort(404 if current_user.role is Role.REQUESTER else 403)


def _back(req: ImagingRequest):
    default = url_for("main.request_detail", request_id=req.id) + "#prior-images"
    return redirect(next_link(default))


def _requester_request_or_404(request_id: int) -> ImagingRequest:
    req = _request_or_404(request_id)
    if not _is_requester(req):
        _refuse(req)
    return req


def _requesters_prior_or_404(prior_id: int) -> ReferralStudy:
    prior = _prior_or_404(prior_id)
    if not _is_requester(prior.request):
        _refuse(prior.request)
    return prior


@bp.route("/requests/<int:request_id>/prior-images", methods=["POST"])
@login_required
def add(request_id: int):
    req = _requester_request_or_404(request_id)
    form = _form(request.form)
    if form.validate_on_submit():
        done = attempt(
            add_prior_study,
            req,
            modality_code=form.modality_code.data,
            study_date=form.study_date.data,
            description=form.description.data or "",
            accession_number=form.accession_number.data,
            study_instance_uid=form.study_instance_uid.data,
            sent_on_cd=form.sent_on_cd.data,
            picked_from_pacs=request.form.get("picked") == "1",
            form=form,
        )
        if done is not None:
            flash(_("The study was added to the images sent with the referral."), "success")
            return _back(req)
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}", "error")
    return _back(req)


@bp.route("/prior-images/<int:prior_id>/cd", methods=["POST"])
@login_required
def sent_on_cd(prior_id: int):
    prior = _requesters_prior_or_404(prior_id)
    req = prior.request
    on_cd = request.form.get("on_cd") == "1"
    if attempt(set_sent_on_cd, prior, on_cd=on_cd) is not None:
        flash(_("Saved."), "success")
    return _back(req)


@bp.route("/prior-images/<int:prior_id>/remove", methods=["POST"])
@login_required
def remove(prior_id: int):
    prior = _requesters_prior_or_404(prior_id)
    req = prior.request
    if attempt(remove_prior_study, prior) is not None:
        flash(_("The study was removed from the list."), "success")
    return _back(req)


def _decide(prior_id: int, confirm: bool):
    prior = _prior_or_404(prior_id)
    req = prior.request
    if not _is_hub(req):
        _refuse(req)
    audit_read("referral.identity_view", [req], entity=prior, page=request.endpoint)
    if attempt(decide_identity, prior, confirm=confirm) is not None:
        flash(
            _("Confirmed: the PACS is asked to file the study under the hub's patient ID.")
            if confirm
            else _("Rejected: the study is not this patient's."),
            "success",
        )
    return _back(req)


@bp.route("/prior-images/<int:prior_id>/confirm", methods=["POST"])
@login_required
def confirm(prior_id: int):
    return _decide(prior_id, True)


@bp.route("/prior-images/<int:prior_id>/reject", methods=["POST"])
@login_required
def reject(prior_id: int):
    return _decide(prior_id, False)


@bp.route("/requests/<int:request_id>/prior-images/pick", methods=["GET", "POST"])
@login_required
def pick(request_id: int):
    """The requester's own PACS, asked for this patient's studies."""
    req = _requester_request_or_404(request_id)
    pacs = db.session.get(HospitalPacs, req.requesting_hospital_id)
    if pacs is None:
        abort(404)
    audit_read("referral.pacs_pick", [req], entity=req, page=request.endpoint)
    form = PacsPickForm()
    studies = None
    if form.validate_on_submit():
        patient_id, _issuer = sender_patient_id(req)
        try:
            studies = find_patient_studies(
                pacs,
                patient_id,
                since=form.study_date.data,
                calling_ae_title=current_app.config.get("DICOM_AE_TITLE", "RADBOOK"),
            )
        except PacsUnavailable:
            form.form_errors.append(_("Your hospital's PACS did not answer. Try again."))
    listed = {p.study_instance_uid for p in prior_studies(req)}
    return render_template(
        "referrals/pick.html",
        req=req,
        patient=_patient(req),
        form=form,
        studies=studies,
        listed=listed,
        add_form=_form(),
    )


def _patient(req: ImagingRequest) -> Patient:
    return req.patient
