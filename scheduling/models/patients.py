"""Patients: one row per person across the network, an HN per hospital."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.enums import IdentifierType, Sex
from scheduling.models.network import Hospital
from scheduling.models.types import UTCDateTime


class Patient(Base):
    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("id_type", "id_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The key across hospitals: the 13-digit national ID, or a passport / foreigner ID.
    id_type: Mapped[IdentifierType] = mapped_column(
        Enum(IdentifierType, native_enum=False, length=20)
    )
    id_value: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(30))  # DOPA prefix code, see scheduling.patients
    given_name_th: Mapped[str] = mapped_column(String(100))
    family_name_th: Mapped[str] = mapped_column(String(100), default="")
    given_name_en: Mapped[str] = mapped_column(String(100), default="")
    family_name_en: Mapped[str] = mapped_column(String(100), default="")
    # Staff corrected the romanisation by hand; the machine never overwrites it then.
    romanised_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(Enum(Sex, native_enum=False, length=10), default=Sex.UNKNOWN)
    phone: Mapped[str | None] = mapped_column(String(30))
    medical_alerts: Mapped[str | None] = mapped_column(Text)  # e.g. contrast allergy
    preferred_language: Mapped[str] = mapped_column(String(5), default="th")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hospital_numbers: Mapped[list[PatientHN]] = relationship(
        back_populates="patient", cascade="all, delete-orphan"
    )

    def hn_at(self, hospital_id: int) -> str | None:
        for hn in self.hospital_numbers:
            if hn.hospital_id == hospital_id:
                return hn.hn
        return None

    def __repr__(self) -> str:
        return f"<Patient {self.id} {self.id_type.name}>"


class PatientHN(Base):
    """Hospital number (HN) of a patient at one hospital; also what scopes visibility."""

    __tablename__ = "patient_hn"
    __table_args__ = (
        UniqueConstraint("hospital_id", "hn"),
        UniqueConstraint("hospital_id", "patient_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    hn: Mapped[str] = mapped_column(String(20))

    patient: Mapped[Patient] = relationship(back_populates="hospital_numbers")
    hospital: Mapped[Hospital] = relationship()
