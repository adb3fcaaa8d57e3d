"""The state machines: every listed transition passes, every other one is refused in Thai."""

import pytest

from scheduling.errors import Conflict
from scheduling.models import AppointmentStatus, RequestStatus
from scheduling.states import (
    APPOINTMENT_TRANSITIONS,
    REQUEST_TRANSITIONS,
    STATUS_LABELS,
    can_transition,
    transition,
)


class Thing:
    def __init__(self, status):
        self.status = status


def test_every_status_has_a_row_and_a_label():
    assert set(REQUEST_TRANSITIONS) == set(RequestStatus)
    assert set(APPOINTMENT_TRANSITIONS) == set(AppointmentStatus)
    assert set(STATUS_LABELS) == set(RequestStatus) | set(AppointmentStatus)


@pytest.mark.parametrize(
    "enum, table",
    [(RequestStatus, REQUEST_TRANSITIONS), (AppointmentStatus, APPOINTMENT_TRANSITIONS)],
)
def test_transition_table_is_enforced(enum, table):
    for current in enum:
        for target in enum:
            thing = Thing(current)
            if target in table[current]:
                assert transition(thing, target) is current
                assert thing.status is target
            else:
                with pytest.raises(Conflict):
                    transition(thing, target)
                assert thing.status is current


def test_the_issue_paths_exist():
    r = RequestStatus
    for a, b in [
        (r.DRAFT, r.SUBMITTED),
        (r.SUBMITTED, r.ACCEPTED),
        (r.SUBMITTED, r.REJECTED),
        (r.ACCEPTED, r.SCHEDULED),
        (r.SCHEDULED, r.COMPLETED),
        (r.SCHEDULED, r.CANCELLED),
    ]:
        assert can_transition(a, b)
    s = AppointmentStatus
    for a, b in [
        (s.BOOKED, s.ARRIVED),
        (s.ARRIVED, s.IN_PROGRESS),
        (s.IN_PROGRESS, s.COMPLETED),
        (s.BOOKED, s.CANCELLED),
        (s.BOOKED, s.NO_SHOW),
        (s.BOOKED, s.MOVED),
        (s.IN_PROGRESS, s.DISCONTINUED),
    ]:
        assert can_transition(a, b)
    # terminal states stay terminal
    for terminal in (r.REJECTED, r.COMPLETED, r.CANCELLED):
        assert not REQUEST_TRANSITIONS[terminal]
    for terminal in (s.COMPLETED, s.CANCELLED, s.NO_SHOW, s.MOVED, s.DISCONTINUED):
        assert not APPOINTMENT_TRANSITIONS[terminal]


def test_refusal_is_thai_with_translated_state_names():
    with pytest.raises(Conflict) as error:
        transition(Thing(AppointmentStatus.COMPLETED), AppointmentStatus.CANCELLED)
    assert error.value.code == "appointment-state"
    thai = error.value.message("th")
    assert "นัด" in thai and "Completed" not in thai
    english = error.value.message("en")
    assert "Completed" in english and "Cancelled" in english
