"""The hospital network: hospitals, people who log in, API clients, scanners, the catalogue."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from scheduling.db import Base
from scheduling.models.enums import (
    DicomCharset,
    HospitalLevel,
    PatientIdPolicy,
    ReferralScope,
    Role,
)
from scheduling.models.types import UTCDateTime


class Hospital(Base):
    __tablename__ = "hospital"

    id: Mapped[int] = mapped_column(primary_key=True)
    # รหัสสถานพยาบาล: the MOPH 5-digit health facility code.
    code: Mapped[str] = mapped_column(String(5), unique=True)
    name_th: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    level: Mapped[HospitalLevel] = mapped_column(Enum(HospitalLevel, native_enum=False, length=20))
    province_th: Mapped[str] = mapped_column(String(100))
    province_en: Mapped[str] = mapped_column(String(100))
    # Two-digit province code (scheduling.regions.PROVINCES), which gives the health
    # region; the names above are set from it (scheduling.regions.set_province).
    province_code: Mapped[str | None] = mapped_column(String(2), index=True)
    district_th: Mapped[str | None] = mapped_column(String(100))
    district_en: Mapped[str | None] = mapped_column(String(100))
    # WGS84 degrees, kept by the admin: distances between hospitals are estimated from them.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    is_hub: Mapped[bool] = mapped_column(Boolean, default=False)
    # Hub setting: what goes out as DICOM Patient ID (and its issuer).
    patient_id_policy: Mapped[PatientIdPolicy] = mapped_column(
        Enum(PatientIdPolicy, native_enum=False, length=20), default=PatientIdPolicy.HN
    )
    # Hub setting: who outside the hub's health region may request and book here.
    referral_scope: Mapped[ReferralScope] = mapped_column(
        Enum(ReferralScope, native_enum=False, length=20),
        default=ReferralScope.ANY,
        server_default=ReferralScope.ANY.name,
    )
    address_th: Mapped[str | None] = mapped_column(Text)
    map_url: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(50))

    devices: Mapped[list[Device]] = relationship(back_populates="hospital")

    def display_name(self, locale: str = "th") -> str:
        return self.name_en if locale == "en" else self.name_th

    def __repr__(self) -> str:
        return f"<Hospital {self.code} {self.name_en}>"


class User(Base):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    # Region office accounts: the health region (1-13) whose aggregates they see.
    region: Mapped[int | None] = mapped_column(Integer)
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(5), default="th")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of the id kept in the session cookie. A new value (new password, account
    # disabled) ends every session of this account on every computer (ASVS 3.3.3).
    session_token: Mapped[str | None] = mapped_column(String(32))

    hospital: Mapped[Hospital] = relationship()

    # The three attributes Flask-Login asks of a user (the core does not import it).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.is_active_account

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token or ''}"

    def end_sessions(self) -> None:
        """Every session cookie issued so far stops working."""
        self.session_token = secrets.token_hex(16)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Modality(Base):
    __tablename__ = "modality"

    # DICOM Modality code (US, CT, MR, CR, DX, MG, BMD, NM, XA, RF).
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name_th: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Procedure(Base):
    __tablename__ = "procedure"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name_th: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    modality_code: Mapped[str] = mapped_column(ForeignKey("modality.code"), index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    prep_th: Mapped[str] = mapped_column(Text, default="")
    prep_en: Mapped[str] = mapped_column(Text, default="")
    uses_contrast: Mapped[bool] = mapped_column(Boolean, default=False)
    # Preparation that clashes with other exams on the same day (e.g. "fasting",
    # "full_bladder", "iodinated_contrast", "barium"); comma-separated tags.
    prep_tags: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    modality: Mapped[Modality] = relationship()

    def display_name(self, locale: str = "th") -> str:
        return self.name_en if locale == "en" else self.name_th


class Device(Base):
    """A scanner at a hub; one DICOM AE title each."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    modality_code: Mapped[str] = mapped_column(ForeignKey("modality.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    station_name: Mapped[str | None] = mapped_column(String(16))
    room_th: Mapped[str] = mapped_column(String(100), default="")
    room_en: Mapped[str] = mapped_column(String(100), default="")
    charset: Mapped[DicomCharset] = mapped_column(
        Enum(DicomCharset, native_enum=False, length=20), default=DicomCharset.UTF8
    )
    # Many scanners leave Scheduled Station AE Title empty in their MWL query;
    # with this on, such a query is narrowed to the calling AE's own steps.
    mwl_filter_by_calling_ae: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Addresses and networks the scanner calls from (``scheduling.addresses``), space-
    # separated. An AE title is only a name anyone can type: an association from any
    # other address is rejected, and a device with none may not associate at all.
    allowed_addresses: Mapped[str] = mapped_column(Text, default="", server_default="")

    hospital: Mapped[Hospital] = relationship(back_populates="devices")
    modality: Mapped[Modality] = relationship()
