"""Finding a hospital by what an operator or an admin form names it with."""

from __future__ import annotations

from sqlalchemy import select

from scheduling.db import db
from scheduling.errors import FieldRefused
from scheduling.i18n import N_
from scheduling.models import Hospital


def hospital_by_id_or_code(hospital_id: int | None = None, code: str | None = None) -> Hospital:
    """The hospital with this row id, else with this MOPH code; refused on the form's
    ``hospital_id`` field when there is none."""
    hospital = None
    if hospital_id is not None:
        hospital = db.session.get(Hospital, hospital_id)
    elif code:
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == code.strip()))
    if hospital is None:
        raise FieldRefused(
            "hospital_id",
            N_("No hospital has the MOPH code %(moph)s"),
            code="no-hospital",
            moph=(code or str(hospital_id or ""))[:20],
        )
    return hospital
