"""The request list every role starts from (``/requests``): filters, paging, eager loads.

The filters follow a request's life as community-hospital staff see it: submitted,
accepted, scheduled, done, images in PACS, reported (plus the two ends, rejected and
cancelled). Scoping is always ``scheduling.access.request_scope``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, exists, func, select, tuple_
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from scheduling.access import request_scope
from scheduling.i18n import N_
from scheduling.models import ImagingRequest, RequestStatus, Role, Study, User

PAGE_SIZE = 50
COUNT_CAP = 999


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


def _branches(user: User) -> list[ColumnElement[bool] | None]:
    """The scope as separate index paths: each is read newest-first on its own index.

    ``request_scope`` is still applied to every branch (it decides what may be seen);
    the branches only let the database use (hospital, created_at) indexes instead of
    sorting an ``OR`` over a hub's whole history. Their union must cover the scope.
    """
    if user.role is Role.ADMIN:
        return [None]
    own = ImagingRequest.requesting_hospital_id == user.hospital_id
    if user.role in (Role.SCHEDULER, Role.RADIOLOGIST):
        return [own, ImagingRequest.hub_hospital_id == user.hospital_id]
    return [own]


_NEWEST_FIRST = (ImagingRequest.created_at.desc(), ImagingRequest.id.desc())


def request_page(user: User, key: str, before: int | None = None) -> Page:
    """One page of the user's requests, newest first, with what each row shows loaded.

    Paged by key (``before`` = the last request id of the previous page), not by offset:
    page 100 costs what page 1 costs, because the index is entered where the previous
    page stopped instead of being walked past 5,000 rows.
    """
    anchor = None
    if before is not None:
        anchor = db.session.execute(
            request_scope(user, select(ImagingRequest.created_at, ImagingRequest.id)).where(
                ImagingRequest.id == before
            )
        ).first()
        if anchor is None:
            before = None  # not theirs, or gone: start from the newest

    def narrowed(query: Select, branch: ColumnElement[bool] | None) -> Select:
        query = apply_filter(request_scope(user, query), key)
        if branch is not None:
            query = query.where(branch)
        if anchor is not None:
            query = query.where(
                tuple_(ImagingRequest.created_at, ImagingRequest.id) < tuple_(*anchor)
            )
        # One row more than the page tells whether there is an older page (no COUNT).
        return query.order_by(*_NEWEST_FIRST).limit(PAGE_SIZE + 1)

    branches = _branches(user)
    if len(branches) == 1:
        query = narrowed(select(ImagingRequest), branches[0])
    else:
        # The newest keys of each branch, merged: the page is among them.
        keys = {
            tuple(row)
            for branch in branches
            for row in db.session.execute(
                narrowed(select(ImagingRequest.created_at, ImagingRequest.id), branch)
            )
        }
        ids = [i for _, i in sorted(keys, reverse=True)[: PAGE_SIZE + 1]]
        query = select(ImagingRequest).where(ImagingRequest.id.in_(ids)).order_by(*_NEWEST_FIRST)
    # Many-to-one rows joined into the page query, collections in one IN query each.
    query = query.options(
        joinedload(ImagingRequest.patient, innerjoin=True),
        joinedload(ImagingRequest.procedure, innerjoin=True),
        joinedload(ImagingRequest.requesting_hospital, innerjoin=True),
        selectinload(ImagingRequest.appointments),
        selectinload(ImagingRequest.studies),
    )
    rows = list(db.session.scalars(query).unique())
    page = rows[:PAGE_SIZE]
    return Page(page, before, page[-1].id if len(rows) > PAGE_SIZE else None)


def status_counts(user: User) -> dict[str, int]:
    """Open requests per status filter (the badges on the filter links), capped.

    Counting stops at ``COUNT_CAP`` (shown as "999+"): a hub has six-figure numbers of
    booked requests, and reading them all for a badge would cost more than the page.
    """
    keys = ("submitted", "accepted", "scheduled")
    counted = [  # one statement for the three (each count still capped on its own)
        select(func.count())
        .select_from(
            request_scope(user, select(ImagingRequest.id))
            .where(ImagingRequest.status == _BY_STATUS[key])
            .limit(COUNT_CAP + 1)
            .subquery()
        )
        .scalar_subquery()
        for key in keys
    ]
    row = db.session.execute(select(*counted)).one()
    return {key: n for key, n in zip(keys, row, strict=True) if n}
