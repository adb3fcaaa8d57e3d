"""Capacity, closures and quotas: what can be booked, where and by whom.

Owned by the scheduling engine (``scheduling/capacity.py`` edits these rows,
``scheduling/availability.py`` and ``scheduling/booking.py`` read them).
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.network import Device, Hospital
from scheduling.models.types import UTCDateTime


class ClosureKind(enum.Enum):
    PUBLIC_HOLIDAY = "public_holiday"  # nationwide (hospital_id NULL)
    HOSPITAL = "hospital"  # one hospital closed (e.g. provincial event, relocation)
    DEVICE_DOWNTIME = "device_downtime"  # one scanner, whole day or part of it


class CapacityTemplate(Base):
    """A device's weekly bookable pattern for a validity period.

    Which template applies on a day: the active one whose validity covers the day;
    when several do, the one that started latest (so a new template can supersede an
    open-ended one without editing it).
    """

    __tablename__ = "capacity_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # inclusive
    # Fixed slot grid in minutes; NULL means each booking takes its procedure's
    # duration and the grid steps by that duration from the window start.
    slot_minutes: Mapped[int | None] = mapped_column(Integer)
    # Earliest bookable start, counted from now; latest bookable day, counted from today.
    lead_time_minutes: Mapped[int] = mapped_column(Integer, default=60)
    horizon_days: Mapped[int] = mapped_column(Integer, default=90)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    device: Mapped[Device] = relationship()
    windows: Mapped[list[CapacityWindow]] = relationship(
        back_populates="template",
        cascade="all, delete-orphan",
        order_by="(CapacityWindow.weekday, CapacityWindow.start_time)",
    )


class CapacityWindow(Base):
    """One bookable time window on one weekday, in the hospital's local time."""

    __tablename__ = "capacity_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("capacity_template.id"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday … 6 = Sunday
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    # Parallel capacity: bookings that may run at the same moment (e.g. two sonographers).
    capacity: Mapped[int] = mapped_column(Integer, default=1)

    template: Mapped[CapacityTemplate] = relationship(back_populates="windows")


class Closure(Base):
    """A half-open period [start_at, end_at) when nothing can be booked.

    Public holidays are pre-filled from the ``holidays`` package and stay editable:
    a holiday the cabinet moves is switched off (``is_active``) rather than deleted,
    so re-running the pre-fill does not bring it back.
    """

    __tablename__ = "closure"
    __table_args__ = (Index("ix_closure_start_end", "start_at", "end_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ClosureKind] = mapped_column(Enum(ClosureKind, native_enum=False, length=20))
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Local calendar day of a public holiday: the pre-fill's natural key.
    holiday_date: Mapped[date | None] = mapped_column(Date, index=True)
    name_th: Mapped[str] = mapped_column(String(200), default="")
    name_en: Mapped[str] = mapped_column(String(200), default="")
    from_holidays_package: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital | None] = relationship()
    device: Mapped[Device | None] = relationship()


class Quota(Base):
    """Bookings per day a hub holds for one referring hospital (or, with no referrer, its own
    reserve for walk-ins and inpatients), on one device or on every device of a modality.

    Applies on one weekday, one date, or (both NULL) every day; a date quota overrides a
    weekday quota which overrides an every-day quota for the same holder and scope.
    Unused, the held bookings are released to every referrer ``release_hours`` before
    the slot starts.
    """

    __tablename__ = "quota"
    __table_args__ = (Index("ix_quota_hub_active", "hub_hospital_id", "is_active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    # NULL: the hub's own reserve (its own requests, and urgent/stat from anyone).
    referring_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    modality_code: Mapped[str | None] = mapped_column(ForeignKey("modality.code"))
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    on_date: Mapped[date | None] = mapped_column(Date)
    slots: Mapped[int] = mapped_column(Integer)
    release_hours: Mapped[int] = mapped_column(Integer, default=24)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    hub_hospital: Mapped[Hospital] = relationship(foreign_keys=[hub_hospital_id])
    referring_hospital: Mapped[Hospital | None] = relationship(foreign_keys=[referring_hospital_id])
    device: Mapped[Device | None] = relationship()


class AccessionCounter(Base):
    """Per hub and year, the last accession sequence number issued.

    Incremented with ``UPDATE … RETURNING`` inside the booking transaction, so two
    bookings at one hub can never draw the same number.
    """

    __tablename__ = "accession_counter"
    __table_args__ = (UniqueConstraint("hospital_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    year: Mapped[int] = mapped_column(Integer)  # Gregorian year of the booking
    last_value: Mapped[int] = mapped_column(Integer, default=0)
