"""Statement and row counts of the hot operations (see ``tests/perf_guards/counting.py``).

Each test: a few bookings where the operation looks, its cost counted; ten more, counted
again. Same statements at both sizes (no N+1), within the budget below, rows growing at
most by the operation's own rows. A budget or a per-item allowance that has to be raised
is a slowdown being written: look at the statement list the failure prints first.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from scheduling.audit import Actor
from scheduling.availability import find_slots
from scheduling.booking import book
from scheduling.models import (
    Device,
    Hospital,
    ImagingRequest,
    Interface,
    Patient,
    Procedure,
    User,
)
from tests.app.hub.factories import make_request
from tests.conftest import login
from tests.perf_guards.counting import assert_flat, cost_of, new_patient

MONDAY = date(2026, 11, 23)  # the demo's capacity runs Monday to Friday
MONDAY_8 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 08:00 in Bangkok
MONDAY_BE = "23/11/2569"
KUDRANG, MKH = "11008", "10707"
SMALL, MORE = 3, 10

# Statement budgets: what each operation costs today. Raise one only with a reason in
# the commit message (a new rule, a new audit event), never to make room for a loop.
# Issue 17 (health regions) added one to the search, the booking and the slot page:
# the requesting hospital, read for the distance-aware order.
# Issue 19 (perf-book): a capacity template and its windows are one statement, and the
# modality-quota check of a booking one with its devices: search -1, book -1, the hub's
# day view -2 (templates, board), the slot page -2.
SEARCH_STATEMENTS = 9
BOOK_STATEMENTS = 21
HL7_ORDER_STATEMENTS = 9
WORKLIST_STATEMENTS = 3
# Issue 19: the notification badge's count comes with the user's load (one less on every
# page); the slot page searches once for its suggestions, calendar and day at the
# request's own hub (eleven less).
HUB_DAY_STATEMENTS = (
    17  # the board grid (issue 16): windows, closures, extra bookings, waiting list
)
REQUESTER_LIST_STATEMENTS = 8  # the three status counts in one statement (issue 19)
SLOT_PAGE_STATEMENTS = 38  # + screening completeness and region-first reads (issues 15, 17)


def _id(model, **where) -> int:
    column, value = next(iter(where.items()))
    return db.session.scalar(select(model.id).where(getattr(model, column) == value))


def _grow_twice(grow, measure, **where):
    """Cost at SMALL bookings where the operation looks, then at SMALL + MORE."""
    grow(SMALL, **where)
    small = measure()
    grow(
        MORE, start_at=where["start_at"] + timedelta(minutes=20 * SMALL), ae_title=where["ae_title"]
    )
    return small, measure()


def test_earliest_slot_search_is_flat(grow, now):
    procedure_id = _id(Procedure, code="US-UPABD")
    kudrang_id = _id(Hospital, code=KUDRANG)
    patient_id = new_patient(KUDRANG, now).id
    db.session.commit()

    def search():
        return find_slots(
            now,
            db.session.get(Procedure, procedure_id),
            requesting_hospital_id=kudrang_id,
            patient=db.session.get(Patient, patient_id),
            date_from=MONDAY,
            date_to=MONDAY,
            limit=10,
        )

    small, large = _grow_twice(grow, lambda: cost_of(search), ae_title="MKH_US1", start_at=MONDAY_8)
    assert_flat(small, large, budget=SEARCH_STATEMENTS, added=MORE, rows_per_item=1)


def test_book_is_flat(grow, now):
    actor_id = _id(User, username="staff.kudrang")
    device_id = _id(Device, ae_title="MKH_US2")
    procedure_id = _id(Procedure, code="US-UPABD")

    def measure():
        # Two fresh requests of new patients and the next two free slots of MKH_US2,
        # made and looked up outside the count.
        requests = []
        for _ in range(2):
            patient = new_patient(KUDRANG, now)
            requests.append(make_request(now=now, patient_name=patient.given_name_th).id)
        db.session.commit()
        slots = find_slots(
            now,
            db.session.get(Procedure, procedure_id),
            requesting_hospital_id=_id(Hospital, code=KUDRANG),
            device_id=device_id,
            date_from=MONDAY,
            date_to=MONDAY + timedelta(days=4),
            limit=2,
        )
        prepared = [(r, s.start_at) for r, s in zip(requests, slots, strict=True)]
        db.session.remove()

        def booking():
            request_id, start_at = prepared.pop(0)
            actor = Actor(interface=Interface.WEB, user=db.session.get(User, actor_id))
            book(
                actor,
                now,
                db.session.get(ImagingRequest, request_id),
                db.session.get(Device, device_id),
                start_at,
            )

        return cost_of(booking)

    small, large = _grow_twice(grow, measure, ae_title="MKH_US2", start_at=MONDAY_8)
    # the small run's own two bookings are on the device and day too
    assert_flat(small, large, budget=BOOK_STATEMENTS, added=MORE + 2, rows_per_item=1)


def _orm(n: int, national_id: str) -> bytes:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HOSXP|{KUDRANG}|RADBOOK|{MKH}|20261121090000||ORM^O01^ORM_O01|"
                f"PG{n:06d}|P|2.5.1|||AL|NE|THA|UNICODE UTF-8",
                f"PID|1||HN{n:05d}^^^{KUDRANG}^MR~{national_id}^^^TH-CID^NI||"
                "ใจดี^สมชาย^^^นาย~JAIDEE^SOMCHAI^^^MR||19800115|M",
                "PV1|1|O",
                f"ORC|NW|PG{n:06d}^{KUDRANG}|||||^^^^^R|||||D001^รักษา^วิชัย^^^นพ.",
                f"OBR|1|PG{n:06d}^{KUDRANG}||US-UPABD^อัลตราซาวด์ช่องท้องส่วนบน^RADBOOK|||||||||"
                "ปวดท้องด้านขวาบน",
            ]
        ).encode("utf-8")
        + b"\r"
    )


def test_hl7_order_is_flat(app, grow, now):
    from integrations.hl7.inbound import InboundProcessor
    from integrations.hl7.mllp import Block

    processor = InboundProcessor(app)
    numbers = itertools.count(1)
    patient = new_patient(KUDRANG, now)
    national_id = patient.id_value
    db.session.commit()

    def order():
        n = next(numbers)
        ack = processor(Block(_orm(n, national_id)), "127.0.0.1")
        assert f"MSA|AA|PG{n:06d}".encode() in ack, ack

    small, large = _grow_twice(grow, lambda: cost_of(order), ae_title="MKH_US1", start_at=MONDAY_8)
    assert_flat(small, large, budget=HL7_ORDER_STATEMENTS, added=MORE, rows_per_item=0)


@pytest.fixture
def worklist_scp(app, demo):
    from worklist.server import start_server

    running = start_server(app, "127.0.0.1", 0)
    yield running
    running.stop()


def test_worklist_query_is_flat(grow, worklist_scp):
    from tests.worklist.conftest import find, mwl_query

    answers = []

    def query():
        results, status = find(
            worklist_scp.port, mwl_query(ScheduledProcedureStepStartDate="20261123")
        )
        assert status == 0x0000
        answers.append(len(results))

    small, large = _grow_twice(grow, lambda: cost_of(query), ae_title="MKH_US1", start_at=MONDAY_8)
    assert answers[-1] - answers[1] == MORE  # the step rows are what grows, one each
    assert_flat(small, large, budget=WORKLIST_STATEMENTS, added=MORE, rows_per_item=1)


def _page_cost(app, username: str, url: str):
    client = app.test_client()
    assert login(client, username).status_code == 302

    def page():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    return lambda: cost_of(page)


def test_hub_day_view_is_flat(app, grow):
    measure = _page_cost(app, "scheduler.mkh", f"/hub/day?date={MONDAY_BE}")
    small, large = _grow_twice(grow, measure, ae_title="MKH_US1", start_at=MONDAY_8)
    assert_flat(small, large, budget=HUB_DAY_STATEMENTS, added=MORE, rows_per_item=1)


def test_requester_list_is_flat(app, grow):
    measure = _page_cost(app, "staff.kudrang", "/requests")
    small, large = _grow_twice(grow, measure, ae_title="MKH_US1", start_at=MONDAY_8)
    assert_flat(small, large, budget=REQUESTER_LIST_STATEMENTS, added=MORE, rows_per_item=3)


def test_requester_list_rows_stop_at_a_page(app, grow, monkeypatch):
    from app.requests import listing

    monkeypatch.setattr(listing, "PAGE_SIZE", 4)
    measure = _page_cost(app, "staff.kudrang", "/requests")
    small, large = _grow_twice(grow, measure, ae_title="MKH_US1", start_at=MONDAY_8)
    grow(MORE, ae_title="MKH_US2", start_at=MONDAY_8)
    larger = measure()
    assert_flat(large, larger, budget=REQUESTER_LIST_STATEMENTS, added=MORE, rows_per_item=0)


def test_slot_page_is_flat(app, grow, now):
    patient = new_patient(KUDRANG, now)
    request_id = make_request(now=now, patient_name=patient.given_name_th).id
    db.session.commit()
    measure = _page_cost(app, "staff.kudrang", f"/requests/{request_id}/slots")
    small, large = _grow_twice(grow, measure, ae_title="MKH_US1", start_at=MONDAY_8)
    # the day's bookings are read once: one search holds the earliest slots and the calendar
    assert_flat(small, large, budget=SLOT_PAGE_STATEMENTS, added=MORE, rows_per_item=1)


def test_the_guard_catches_a_query_per_row(grow):
    """An N+1 loop (one lazy load per booking) fails the statement check."""
    from scheduling.models import Appointment

    def n_plus_one():
        for appointment in db.session.scalars(select(Appointment)):
            assert appointment.request.procedure_id  # lazy: one SELECT per booking

    small, large = _grow_twice(
        grow, lambda: cost_of(n_plus_one), ae_title="MKH_US1", start_at=MONDAY_8
    )
    with pytest.raises(AssertionError, match="statements grew with the data"):
        assert_flat(small, large, budget=100, added=MORE, rows_per_item=5)
