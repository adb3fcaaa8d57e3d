"""Sessions end on the server: a session cookie copied before logout, a password change
or an admin's disable no longer opens anything afterwards (issue 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.sessions import UserSession
from scheduling.models import ImagingRequest, RequestStatus, User
from tests.conftest import login


def _copy(app, source):
    """Another browser holding a copy of ``source``'s session cookie."""
    thief = app.test_client()
    cookie = source.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    return thief


def _open_request(db) -> ImagingRequest:
    from tests.app.hub.factories import hospital

    return db.session.scalar(
        select(ImagingRequest)
        .where(
            ImagingRequest.requesting_hospital_id == hospital("11008").id,
            ImagingRequest.status.in_([RequestStatus.SUBMITTED, RequestStatus.SCHEDULED]),
        )
        .limit(1)
    )


def _rows(db, username: str) -> list[UserSession]:
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == username))
    return db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).all()


def test_a_cookie_copied_before_logout_stops_working(app, demo_bookings):
    db = demo_bookings
    browser = app.test_client()
    login(browser, "staff.kudrang")
    copy = _copy(app, browser)
    request = _open_request(db)
    assert copy.get(f"/requests/{request.id}").status_code == 200  # the copy works
    assert browser.post("/logout").status_code == 302
    # After logout the copy opens nothing, and cannot cancel the request.
    page = copy.get(f"/requests/{request.id}")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    cancel = copy.post(f"/requests/{request.id}/cancel", data={"reason": "ยกเลิกโดยผู้อื่น"})
    assert cancel.status_code == 302 and "/login" in cancel.headers["Location"]
    db.session.expire_all()
    assert db.session.get(ImagingRequest, request.id).status is not RequestStatus.CANCELLED
    [row] = _rows(db, "staff.kudrang")
    assert row.ended_at is not None and row.end_reason == "logout"
    # The user logs in again: a new session, the old copy still dead.
    login(browser, "staff.kudrang")
    assert browser.get("/requests").status_code == 200
    assert copy.get("/requests").status_code == 302


def test_logout_ends_only_that_session(app, demo):
    office, ward = app.test_client(), app.test_client()
    login(office, "staff.kudrang")
    login(ward, "staff.kudrang")
    office.post("/logout")
    assert ward.get("/requests").status_code == 200
    assert office.get("/requests").status_code == 302


def test_a_password_change_ends_the_other_sessions_on_the_server(app, demo):
    browser = app.test_client()
    login(browser, "staff.kudrang")
    copy = _copy(app, browser)
    response = browser.post(
        "/account/password",
        data={
            "current_password": "radbook-demo",
            "new_password": "ฝนตกที่มหาสารคามทั้งวัน",
            "new_password_again": "ฝนตกที่มหาสารคามทั้งวัน",
        },
    )
    assert response.status_code == 302
    assert browser.get("/requests").status_code == 200
    assert copy.get("/requests").status_code == 302


@pytest.mark.parametrize("change", ["disable", "password"])
def test_an_admin_disable_or_reset_ends_every_session(app, demo, change):
    from tests.app.hub.factories import hospital

    staff = app.test_client()
    login(staff, "staff.kudrang")
    copy = _copy(app, staff)
    admin = app.test_client()
    login(admin, "admin")
    user = demo.session.scalar(select(User).where(User.username == "staff.kudrang"))
    data = {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role.name,
        "hospital_id": hospital("11008").id,
        "locale": "th",
    }
    if change == "disable":
        data["password"] = data["password_again"] = ""
    else:
        data["is_active_account"] = "y"
        data["password"] = data["password_again"] = "ฝนตกที่มหาสารคามทั้งวัน"
    assert admin.post(f"/admin/users/{user.id}", data=data).status_code == 302
    assert staff.get("/requests").status_code == 302
    assert copy.get("/requests").status_code == 302
    rows = _rows(demo, "staff.kudrang")
    assert rows and all(r.ended_at is not None for r in rows)
    assert {r.end_reason for r in rows} == {"disabled" if change == "disable" else "password-reset"}


def test_a_session_cookie_without_a_server_session_is_not_a_login(app, demo):
    """A cookie signed with the right key but naming no session (or forged with the
    user id only, as before this change) is anonymous."""
    user = demo.session.scalar(select(User).where(User.username == "admin"))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    assert client.get("/admin/").status_code == 302


def test_purge_drops_ended_and_outlived_sessions(app, demo, now):
    from app import sessions

    browser = app.test_client()
    login(browser, "staff.kudrang")
    login(app.test_client(), "staff.kosum")
    browser.post("/logout")
    with app.test_request_context():
        assert sessions.purge(now + timedelta(hours=2)) == 0
        assert sessions.purge(now + timedelta(days=1, hours=1)) == 2  # ended; outlived
    demo.session.commit()
    assert demo.session.scalars(select(UserSession)).all() == []
