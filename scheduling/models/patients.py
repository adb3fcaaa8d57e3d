"""Patients: one record per (person, hospital), linked across hospitals by the person's ID.

The IHE PIX idea: every hospital is its own identity domain and keeps its own record of
a person (its HN, if it gave one, and the demographics as it registered them). Records
of one person share the identifier (national ID, passport or foreigner ID) and are
linked only through it: a hospital never reads or writes another hospital's record
(docs/patient-identity.md).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.enums import IdentifierType, Sex
from scheduling.models.network import Hospital
from scheduling.models.types import UTCDateTime


class Patient(Base):
    """One hospital's record of a person."""

    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("hospital_id", "id_type", "id_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The hospital that keeps this record. Empty only for records that no hospital held
    # when records became per hospital (none are made now): only admins see those.
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))
    # The link across hospitals: the 13-digit national ID, or a passport / foreigner ID.
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

    hospital: Mapped[Hospital | None] = relationship()
    hospital_numbers: Mapped[list[PatientHN]] = relationship(
        back_populates="patient", cascade="all, delete-orphan"
    )

    def hn_at(self, hospital_id: int | None) -> str | None:
        for hn in self.hospital_numbers:
            if hn.hospital_id == hospital_id:
                return hn.hn
        return None

    @property
    def hn(self) -> str | None:
        """This record's HN at its own hospital; None when the hospital gave none."""
        return self.hn_at(self.hospital_id)

    def __repr__(self) -> str:
        return f"<Patient {self.id} {self.id_type.name} @{self.hospital_id}>"


class PatientHN(Base):
    """The hospital number (HN) of a record at the hospital that keeps the record.

    At most one per record, always at the record's own hospital; a record without an
    HN simply has none (nothing is made up from the national ID).
    """

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
