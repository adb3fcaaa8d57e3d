"""Files sent with a request (referral letter, lab results): PDF or images, size-limited.

The type is judged by the file's first bytes, never by its name or the browser's word,
and only the two hospitals of the request may read it (:func:`may_read`): not the
region office, not an admin browsing, not another hub.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import func, select

from scheduling.access import require_party
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, ValidationFailed
from scheduling.i18n import N_
from scheduling.locks import lock_request
from scheduling.models import AttachmentKind, ImagingRequest, RequestAttachment, Role, User
from scheduling.states import OPEN_REQUEST_STATUSES
from scheduling.tx import check_aware, finish, rollback_on_error

# Each file; the web's whole-body limit (MAX_CONTENT_LENGTH, 4 MB) bounds one upload too.
MAX_MB = 3
MAX_BYTES = MAX_MB * 1024 * 1024
MAX_FILES = 6
# First bytes → the one content type we serve it as.
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff(data: bytes) -> str | None:
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)


def _safe_name(filename: str) -> str:
    name = re.split(r"[\\/]", filename or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"]", "", name).strip() or "file"
    return name[-200:]


def add_attachment(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    kind: AttachmentKind,
    filename: str,
    data: bytes,
    commit: bool = True,
) -> RequestAttachment:
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        require_party(actor, request, None)
        if request.status not in OPEN_REQUEST_STATUSES:
            raise Conflict(N_("This request can no longer be changed"), code="request-closed")
        if not data:
            raise ValidationFailed(N_("The file is empty"), code="attachment-empty")
        if len(data) > MAX_BYTES:
            raise ValidationFailed(
                N_("The file is larger than %(mb)s MB"), code="attachment-size", mb=MAX_MB
            )
        content_type = sniff(data)
        if content_type is None:
            raise ValidationFailed(N_("Attach a PDF, JPEG or PNG file"), code="attachment-type")
        count = db.session.scalar(
            select(func.count()).where(RequestAttachment.request_id == request.id)
        )
        if count >= MAX_FILES:
            raise Conflict(
                N_("A request takes at most %(n)s files"), code="attachment-count", n=MAX_FILES
            )
        row = RequestAttachment(
            request_id=request.id,
            kind=kind,
            filename=_safe_name(filename),
            content_type=content_type,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            uploaded_at=now,
            uploaded_by_id=actor.user.id if actor.user is not None else None,
        )
        db.session.add(row)
        db.session.flush()
        record(
            actor,
            "request.attach",
            now,
            entity=request,
            hospital_id=actor.acting_hospital_id,
            attachment=row.id,
            kind=kind.name,
            size=row.size_bytes,
            sha256=row.sha256,
        )
        finish(commit)
    return row


def may_read(user: User, request: ImagingRequest) -> bool:
    """Only the clinical staff of the requesting hospital or of the hub that performs the
    exam: not an administrator, whichever hospital their account belongs to."""
    return (
        user.role is not Role.ADMIN
        and user.hospital_id is not None
        and user.hospital_id in (request.requesting_hospital_id, request.hub_hospital_id)
    )
