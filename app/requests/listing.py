"""The request list every role starts from (``/requests``): filters, paging, eager loads.

The filters follow a request's life as community-hospital staff see it: submitted,
accepted, scheduled, done, images in PACS, reported (plus the two ends, rejected and
cancelled). Scoping is always ``scheduling.access.request_scope``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select, tuple_
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import ImagingRequest, RequestStatus, Study, User
from scheduling.access import request_scope
from scheduling.i18n import N_

PAGE_SIZE = 50


@dataclass(frozen=True)
class ListFilter:
    key: str
    label: str  # msgid


FILTERS: tuple[ListFilter, ...] = (
    ListFilter("submitted", N_("Submitted")),
    ListFilter("accepted", N_("Accepted")),
    ListFilter("scheduled", N_("Scheduled")),
    ListFilter("done", N_("Done")),
    ListFilter("images", N_("Images in PACS")),
    ListFilter("reported", N_("Reported")),
    ListFilter("rejected", N_("Rejected")),
    ListFilter("cancelled", N_("Cancelled")),
)
_BY_STATUS = {
    "submitted": RequestStatus.SUBMITTED,
    "accepted": RequestStatus.ACCEPTED,
    "scheduled": RequestStatus.SCHEDULED,
    "done": RequestStatus.COMPLETED,
    "rejected": RequestStatus.REJECTED,
    "cancelled": RequestStatus.CANCELLED,
}


def normalise_filter(raw: str | None) -> str:
    """Known keys, also the enum names the first list used (``?status=SUBMITTED``)."""
    key = (raw or "").strip().lower()
    if key == "completed":
        key = "done"
    return key if key in {f.key for f in FILTERS} else ""


def apply_filter(query: Select, key: str) -> Select:
    if key in _BY_STATUS:
        return query.where(ImagingRequest.status == _BY_STATUS[key])
    if key == "images":
        return query.where(
            exists().where(
                Study.request_id == ImagingRequest.id, Study.images_in_pacs_at.is_not(None)
            )
        )
    if key == "reported":
        return query.where(ImagingRequest.reported_at.is_not(None))
    return query


@dataclass
class Page:
    requests: list[ImagingRequest]
    before: int | None  # the request this page continues after (None: the newest)
    next_before: int | None  # for the "older" link; None on the last page


def request_page(user: User, key: str, before: int | None = None) -> Page:
    """One page of the user's requests, newest first, with what each row shows loaded.

    Paged by key (``before`` = the last request id of the previous page), not by offset:
    page 100 costs what page 1 costs, because the index is entered where the previous
    page stopped instead of being walked past 5,000 rows.
    """
    query = apply_filter(request_scope(user), key)
    if before is not None:
        anchor = db.session.execute(
            request_scope(user, select(ImagingRequest.created_at, ImagingRequest.id))
            .where(ImagingRequest.id == before)
        ).first()
        if anchor is not None:
            query = query.where(
                tuple_(ImagingRequest.created_at, ImagingRequest.id) < tuple_(*anchor)
            )
        else:
            before = None  # not theirs, or gone: start from the newest
    # Many-to-one rows joined into the page query, collections in one IN query each:
    # three round trips in all, whatever the page size.
    query = query.options(
        joinedload(ImagingRequest.patient, innerjoin=True),
        joinedload(ImagingRequest.procedure, innerjoin=True),
        joinedload(ImagingRequest.requesting_hospital, innerjoin=True),
        selectinload(ImagingRequest.appointments),
        selectinload(ImagingRequest.studies),
    )
    # One row more than the page tells whether there is an older page, without a COUNT(*).
    query = query.order_by(ImagingRequest.created_at.desc(), ImagingRequest.id.desc()).limit(
        PAGE_SIZE + 1
    )
    rows = list(db.session.scalars(query).unique())
    page = rows[:PAGE_SIZE]
    return Page(page, before, page[-1].id if len(rows) > PAGE_SIZE else None)


def status_counts(user: User) -> dict[str, int]:
    """Open requests per status filter (the badges on the filter links)."""
    # count(*), not count(id): the (hospital, status, …) index answers it alone.
    query = request_scope(user, select(ImagingRequest.status, func.count()))
    query = query.where(
        ImagingRequest.status.in_(
            [RequestStatus.SUBMITTED, RequestStatus.ACCEPTED, RequestStatus.SCHEDULED]
        )
    ).group_by(ImagingRequest.status)
    by_status = {status: count for status, count in db.session.execute(query)}
    return {
        key: by_status.get(status, 0) for key, status in _BY_STATUS.items() if status in by_status
    }
