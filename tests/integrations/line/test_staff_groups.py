"""Staff notifications pushed to the hospital's staff LINE group (through the SDK client,
to the local LINE stand-in): once each, only the hospital's own, never a patient name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from integrations.line import staff
from integrations.line.models import LineOutboxStatus, LineStaffPush
from scheduling.audit import Actor
from scheduling.errors import ValidationFailed
from scheduling.models import Interface, Role
from scheduling.requests import reject_request
from tests.conftest import login
from tests.scheduling.factories import create_hospital, create_req, create_setup, create_user

ADMIN = Actor(interface=Interface.CLI, name="test")
GROUP = "C" + "a1" * 16


def _rejected(now, hub, requester, procedure, reason="ผิดแผนก"):
    scheduler = create_user(hub, Role.SCHEDULER)
    request = create_req(now, requester, procedure, hub=hub)
    reject_request(Actor(interface=Interface.WEB, user=scheduler), now, request, reason)
    return request


def test_a_rejection_reaches_the_requesters_group_once(db, now, standin):
    hub, requester, device, procedure = create_setup(now)
    other = create_hospital()
    staff.set_group(ADMIN, now, requester.id, GROUP)
    staff.set_group(ADMIN, now, other.id, "C" + "b2" * 16)
    request = _rejected(now, hub, requester, procedure)
    counts = staff.push_due(now)
    assert counts == {"queued": 1, "sent": 1, "retry": 0, "failed": 0}
    [push] = standin.pushes()
    assert push.to == GROUP  # the requester's group only, not the other hospital's
    text = push.messages[0]["text"]
    assert request.placer_order_number in text and "ผิดแผนก" in text
    thai, english, reason = text.split("\n")  # Thai first, English second, then the reason
    assert thai.startswith("RadBook: ") and request.placer_order_number in english
    assert reason == "เหตุผล / Reason: ผิดแผนก" and thai != english
    assert request.patient.given_name_th not in text  # no patient name in a group chat
    assert staff.push_due(now + timedelta(minutes=1))["sent"] == 0  # nothing twice
    assert len(standin.pushes()) == 1


def test_server_errors_retry_with_the_same_key(db, now, standin):
    hub, requester, device, procedure = create_setup(now)
    staff.set_group(ADMIN, now, requester.id, GROUP)
    _rejected(now, hub, requester, procedure)
    standin.inject(500)
    assert staff.push_due(now)["retry"] == 1
    row = db.session.scalar(select(LineStaffPush))
    assert row.status is LineOutboxStatus.PENDING and row.attempts == 1
    assert staff.push_due(now + timedelta(hours=2))["sent"] == 1
    assert [p.retry_key for p in standin.pushes()] == [row.retry_key]


def test_history_before_the_group_is_not_replayed_and_ids_are_checked(db, now, standin):
    hub, requester, device, procedure = create_setup(now)
    _rejected(now, hub, requester, procedure)
    staff.set_group(ADMIN, now + timedelta(minutes=5), requester.id, GROUP)
    assert staff.push_due(now + timedelta(minutes=6))["queued"] == 0
    with pytest.raises(ValidationFailed):
        staff.set_group(ADMIN, now, requester.id, "U1234; DROP")


def test_only_an_admin_sets_groups(app, demo):
    staff_client = app.test_client()
    login(staff_client, "staff.kudrang")
    assert staff_client.get("/line/staff-groups").status_code == 403
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get("/line/staff-groups").status_code == 200
