from sqlalchemy import func, select

from app.demo import load_demo
from integrations.fhir.models import ApiClient
from scheduling.models import Device, Hospital, Patient, Procedure, User


def test_demo_matches_design_and_is_idempotent(demo):
    ae_titles = set(demo.session.scalars(select(Device.ae_title)))
    assert {
        "MKH_US1",
        "MKH_US2",
        "MKH_CT1",
        "MKH_MR1",
        "MKH_DX1",
        "MKH_MG1",
        "MKH_BMD1",
    } <= ae_titles
    users = set(demo.session.scalars(select(User.username)))
    assert users == {
        "admin",
        "scheduler.mkh",
        "radiologist.mkh",
        "staff.kudrang",
        "staff.kosum",
        "region7.office",
        "region8.office",
    }
    assert demo.session.scalar(select(User).where(User.username == "admin")).check_password(
        "radbook-demo"
    )
    assert demo.session.scalar(
        select(ApiClient).where(ApiClient.token_sha256 == ApiClient.hash_token("demo-his-token"))
    )
    modalities = set(demo.session.scalars(select(Procedure.modality_code)))
    assert {"US", "CT", "MR", "DX", "MG", "BMD"} <= modalities
    assert demo.session.scalar(select(func.count(Procedure.id))) >= 25

    def counts():
        return [
            demo.session.scalar(select(func.count(m.id)))
            for m in (Hospital, Device, Procedure, User, Patient, ApiClient)
        ]

    before = counts()
    load_demo()
    assert counts() == before
