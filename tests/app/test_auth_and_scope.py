from sqlalchemy import select

from scheduling.clock import utcnow
from scheduling.models import (
    AuditEvent,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    RequestStatus,
)
from tests.conftest import login


def test_login_page_is_thai_by_default(client):
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "เข้าสู่ระบบ" in html
    assert 'lang="th"' in html


def test_english_switch(client):
    client.post("/language/en")
    html = client.get("/login").get_data(as_text=True)
    assert "Log in to RadBook" in html
    assert 'lang="en"' in html


def test_wrong_password_gives_one_thai_message_and_is_audited(client, demo):
    wrong_password = login(client, "staff.kudrang", "nope")
    unknown_user = login(client, "nobody", "radbook-demo")
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in response.get_data(as_text=True)
    actions = demo.session.scalars(select(AuditEvent.action)).all()
    assert actions.count("auth.login_failed") == 2


def test_login_logout_audited(client, demo):
    assert login(client, "staff.kudrang").status_code == 302
    page = client.get("/requests")
    assert page.status_code == 200
    assert "โรงพยาบาลกุดรัง" in page.get_data(as_text=True)
    client.post("/logout")
    assert client.get("/requests").status_code == 302  # back to login
    actions = demo.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["auth.login", "auth.logout"]


def test_requests_need_login(client):
    response = client.get("/requests")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_open_redirect_after_login_is_refused(client, demo):
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "staff.kudrang", "password": "radbook-demo"},
    )
    assert response.headers["Location"] == "/"


def _kudrang_request(db) -> ImagingRequest:
    kudrang = db.session.scalar(select(Hospital).where(Hospital.code == "11008"))
    mkh = db.session.scalar(select(Hospital).where(Hospital.code == "10707"))
    patient = db.session.scalar(select(Patient).where(Patient.given_name_th == "สมศรี"))
    procedure = db.session.scalar(select(Procedure).where(Procedure.code == "US-UPABD"))
    now = utcnow()
    req = ImagingRequest(
        placer_order_number="KR-1",
        requesting_hospital_id=kudrang.id,
        hub_hospital_id=mkh.id,
        patient_id=patient.id,
        procedure_id=procedure.id,
        priority=Priority.ROUTINE,
        status=RequestStatus.SUBMITTED,
        indication="ปวดท้องด้านขวาบน",
        created_at=now,
        updated_at=now,
    )
    db.session.add(req)
    db.session.commit()
    return req


def test_other_hospital_cannot_see_kudrang_request(app, demo):
    req = _kudrang_request(demo)
    kudrang, kosum, hub = app.test_client(), app.test_client(), app.test_client()
    login(kudrang, "staff.kudrang")
    login(kosum, "staff.kosum")
    login(hub, "scheduler.mkh")

    assert kudrang.get(f"/requests/{req.id}").status_code == 200
    assert "ปวดท้องด้านขวาบน" in kudrang.get(f"/requests/{req.id}").get_data(as_text=True)
    assert kosum.get(f"/requests/{req.id}").status_code == 404
    assert "สมศรี" not in kosum.get("/requests").get_data(as_text=True)
    # the hub the request is addressed to sees it
    assert hub.get(f"/requests/{req.id}").status_code == 200
    assert "สมศรี" in hub.get("/requests").get_data(as_text=True)
