from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.admin.operations import password_problems
from scheduling.models import AuditEvent, Device, DicomCharset, Procedure, Role, User
from tests.app.hub.factories import device, hospital, procedure
from tests.conftest import login


@pytest.fixture
def admin(client, demo):
    login(client, "admin")
    return client


def _html(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("username", ["scheduler.mkh", "radiologist.mkh", "staff.kudrang"])
@pytest.mark.parametrize("path", ["/admin/", "/admin/devices", "/admin/users/new", "/admin/audit"])
def test_only_admins_open_admin_pages(client, demo, username, path):
    login(client, username)
    assert client.get(path).status_code == 403


def test_admin_pages_list_the_demo_network(admin):
    assert "MKH_US1" in _html(admin.get("/admin/devices"))
    assert "โรงพยาบาลกุดรัง" in _html(admin.get("/admin/hospitals"))
    procedures = _html(admin.get("/admin/procedures?modality=US"))
    assert "อัลตราซาวด์ช่องท้องส่วนบน" in procedures and "CT สมอง" not in procedures
    assert "scheduler.mkh" in _html(admin.get("/admin/users"))


def _device_form(**overrides):
    data = {
        "hospital_id": hospital("10707").id,
        "modality_code": "US",
        "name": "Ultrasound 3",
        "ae_title": "mkh_us3",
        "station_name": "",
        "room_th": "ห้องอัลตราซาวด์ 3",
        "room_en": "Ultrasound room 3",
        "charset": "TIS620",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def test_add_device_normalises_ae_title_and_audits(admin, demo):
    response = admin.post("/admin/devices/new", data=_device_form())
    assert response.status_code == 302
    new = device("MKH_US3")
    assert new is not None and new.charset is DicomCharset.TIS620 and new.is_active
    event = demo.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "admin.device.create")
    )
    assert event.entity_id == new.id and event.actor == "admin"
    assert event.detail["changes"]["ae_title"] == [None, "MKH_US3"]
    assert event.hospital_id == hospital("10707").id


def test_duplicate_ae_title_is_refused_beside_the_field(admin, demo):
    before = len(demo.session.scalars(select(Device)).all())
    response = admin.post("/admin/devices/new", data=_device_form(ae_title="MKH_US1"))
    html = _html(response)
    assert response.status_code == 200
    assert 'id="ae_title-error"' in html and "มีเครื่องอื่นใช้ AE title นี้แล้ว" in html
    assert len(demo.session.scalars(select(Device)).all()) == before


def test_ae_title_with_forbidden_characters_is_refused(admin):
    html = _html(admin.post("/admin/devices/new", data=_device_form(ae_title="MKH\\US9")))
    assert "AE title ต้องมี 1–16 ตัว" in html
    assert device("MKH\\US9") is None


def test_device_must_belong_to_a_hub(admin):
    html = _html(
        admin.post("/admin/devices/new", data=_device_form(hospital_id=hospital("11008").id))
    )
    # Only hubs are offered, so a community hospital is not a valid choice at all.
    assert 'id="hospital_id-error"' in html
    assert device("MKH_US3") is None


def test_edit_procedure_preparation_is_audited_with_old_and_new(admin, demo):
    proc = procedure("US-THY")
    data = {
        "code": proc.code,
        "name_th": proc.name_th,
        "name_en": proc.name_en,
        "modality_code": "US",
        "duration_minutes": "15",
        "prep_th": "งดน้ำ 2 ชั่วโมง",
        "prep_en": proc.prep_en,
        "prep_tags": "",
        "is_active": "y",
    }
    assert admin.post(f"/admin/procedures/{proc.id}", data=data).status_code == 302
    demo.session.expire_all()
    assert demo.session.get(Procedure, proc.id).prep_th == "งดน้ำ 2 ชั่วโมง"
    event = demo.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "admin.procedure.update")
    )
    assert event.detail["changes"] == {"prep_th": ["ไม่ต้องเตรียมตัว", "งดน้ำ 2 ชั่วโมง"]}


def test_procedure_duration_must_be_a_number_in_thai(admin):
    proc = procedure("US-THY")
    html = _html(
        admin.post(
            f"/admin/procedures/{proc.id}",
            data={
                "code": proc.code,
                "name_th": proc.name_th,
                "name_en": proc.name_en,
                "modality_code": "US",
                "duration_minutes": "สิบห้า",
            },
        )
    )
    assert 'id="duration_minutes-error"' in html and "กรุณากรอกเป็นจำนวนเต็ม" in html


def test_hospital_code_must_have_five_digits(admin):
    html = _html(
        admin.post(
            "/admin/hospitals/new",
            data={
                "code": "1234x",
                "name_th": "โรงพยาบาลทดสอบ",
                "name_en": "Test Hospital",
                "level": "COMMUNITY",
                "province_code": "44",
                "referral_scope": "ANY",
                "patient_id_policy": "HN",
            },
        )
    )
    assert "รหัสสถานพยาบาลต้องเป็นตัวเลข 5 หลัก" in html


def _hospital_form(**overrides):
    data = {
        "code": "11999",
        "name_th": "โรงพยาบาลทดสอบ",
        "name_en": "Test Hospital",
        "level": "COMMUNITY",
        "province_code": "46",
        "district_th": "ยางตลาด",
        "district_en": "Yang Talat",
        "latitude": "16.3990",
        "longitude": "103.3670",
        "referral_scope": "REGION_ONLY",
        "patient_id_policy": "HN",
    }
    data.update(overrides)
    return data


def test_a_hospital_gets_its_province_region_and_coordinates(admin, demo):
    from scheduling.regions import region_of

    response = admin.post("/admin/hospitals/new", data=_hospital_form())
    assert response.status_code == 302
    saved = hospital("11999")
    assert (saved.province_code, saved.province_th, saved.province_en) == (
        "46",
        "กาฬสินธุ์",
        "Kalasin",
    )
    assert region_of(saved) == 7
    assert (saved.latitude, saved.longitude) == (16.399, 103.367)
    assert saved.referral_scope.name == "REGION_ONLY"
    listing = _html(admin.get("/admin/hospitals"))
    assert "เขตสุขภาพที่ 7" in listing and "16.3990, 103.3670" in listing


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"longitude": ""}, "longitude", "ระบุทั้งละติจูดและลองจิจูด หรือไม่ระบุทั้งคู่"),
        ({"latitude": "95"}, "latitude", "ละติจูดอยู่ระหว่าง -90 ถึง 90"),
        ({"province_code": "99"}, "province_code", None),
    ],
)
def test_bad_geography_is_refused_beside_its_field(admin, demo, overrides, field, message):
    html = _html(admin.post("/admin/hospitals/new", data=_hospital_form(**overrides)))
    assert f'id="{field}-error"' in html
    assert message is None or message in html
    assert hospital("11999") is None


def _user_form(**overrides):
    data = {
        "username": "nurse.kudrang",
        "full_name": "สุดา ทดสอบ",
        "role": "REQUESTER",
        "hospital_id": hospital("11008").id,
        "locale": "th",
        "is_active_account": "y",
        "password": "ห้องเอกซเรย์-2569",
        "password_again": "ห้องเอกซเรย์-2569",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "รหัสผ่านต้องมีอย่างน้อย 12 ตัวอักษร"),
        ("password123", "รหัสผ่านนี้ใช้กันทั่วไปเกินไป"),
        ("nurse.kudrang-2026", "รหัสผ่านต้องไม่มีชื่อผู้ใช้อยู่ด้วย"),
        ("aaaaabbbbbaaaaa", "รหัสผ่านใช้ตัวอักษรซ้ำกันมากเกินไป"),
    ],
)
def test_weak_passwords_are_refused_in_thai(admin, demo, password, message):
    html = _html(
        admin.post("/admin/users/new", data=_user_form(password=password, password_again=password))
    )
    assert 'id="password-error"' in html and message in html
    assert demo.session.scalar(select(User).where(User.username == "nurse.kudrang")) is None


def test_passwords_must_match(admin):
    html = _html(admin.post("/admin/users/new", data=_user_form(password_again="something-else")))
    assert "รหัสผ่านทั้งสองช่องไม่ตรงกัน" in html


def test_new_user_can_log_in_and_the_audit_keeps_no_password(app, admin, demo):
    assert admin.post("/admin/users/new", data=_user_form()).status_code == 302
    user = demo.session.scalar(select(User).where(User.username == "nurse.kudrang"))
    assert user.role is Role.REQUESTER and user.hospital_id == hospital("11008").id
    event = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "admin.user.create"))
    assert "password_hash" not in event.detail["changes"]
    assert event.detail["changes"]["password"] == ["***", "***"]
    assert user.password_hash not in str(event.detail)
    assert login(app.test_client(), "nurse.kudrang", "ห้องเอกซเรย์-2569").status_code == 302


def test_editing_a_user_without_a_password_keeps_it(app, admin, demo):
    user = demo.session.scalar(select(User).where(User.username == "staff.kosum"))
    data = _user_form(
        username="staff.kosum",
        hospital_id=user.hospital_id,
        password="",
        password_again="",
        full_name="ประยุทธ์ บุญมา",
    )
    assert admin.post(f"/admin/users/{user.id}", data=data).status_code == 302
    assert login(app.test_client(), "staff.kosum").status_code == 302


def test_deactivated_user_cannot_log_in(app, admin, demo):
    user = demo.session.scalar(select(User).where(User.username == "staff.kosum"))
    data = _user_form(
        username="staff.kosum", hospital_id=user.hospital_id, password="", password_again=""
    )
    del data["is_active_account"]
    assert admin.post(f"/admin/users/{user.id}", data=data).status_code == 302
    assert login(app.test_client(), "staff.kosum").status_code == 401


def test_admin_cannot_demote_themself(admin, demo):
    me = demo.session.scalar(select(User).where(User.username == "admin"))
    data = _user_form(
        username="admin",
        role="REQUESTER",
        hospital_id=me.hospital_id,
        password="",
        password_again="",
    )
    html = _html(admin.post(f"/admin/users/{me.id}", data=data))
    assert "ไม่สามารถถอดสิทธิ์ผู้ดูแลระบบของตนเองได้" in html
    demo.session.expire_all()
    assert demo.session.get(User, me.id).role is Role.ADMIN


def test_password_rules_accept_a_long_thai_passphrase():
    assert password_problems("ฝนตกที่มหาสารคาม", "staff.kudrang") == []


def _event(db, action: str, at: datetime, actor: str = "admin") -> None:
    from scheduling.models import Interface

    db.session.add(
        AuditEvent(
            at=at, actor=actor, interface=Interface.WEB, action=action, detail={"note": "ทดสอบ"}
        )
    )
    db.session.commit()


def test_audit_log_filters_by_action_and_buddhist_era_dates(admin, demo):
    _event(demo, "appointment.book", datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    _event(demo, "appointment.cancel", datetime(2026, 11, 21, 3, 0, tzinfo=UTC))
    _event(demo, "request.reject", datetime(2026, 11, 21, 4, 0, tzinfo=UTC))
    html = _html(
        admin.get("/admin/audit?action=appointment&date_from=21/11/2569&date_to=21/11/2569")
    )
    assert "appointment.cancel" in html
    assert "appointment.book" not in html and "request.reject" not in html
    assert "1 รายการ" in html


def test_audit_log_rejects_an_unreadable_date_beside_the_field(admin, demo):
    html = _html(admin.get("/admin/audit?date_from=31/02/2569"))
    assert 'id="date_from-error"' in html and "กรอกวันที่แบบ วว/ดด/ปปปป (พ.ศ.)" in html


def test_audit_csv_is_excel_friendly_utf8(admin, demo):
    _event(demo, "appointment.book", datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    response = admin.get("/admin/audit.csv?action=appointment")
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert body.startswith("\ufeffat_utc,")
    assert "ทดสอบ" in body and "appointment.book" in body
    assert "auth.login" not in body
