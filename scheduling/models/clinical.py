"""What a hub keeps for vetting (its protocols, which procedures need a radiologist's
look) and the files a request carries (referral letter, lab results)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.enums import AttachmentKind
from scheduling.models.types import UTCDateTime

if TYPE_CHECKING:
    from scheduling.models.orders import ImagingRequest


class HubProtocol(Base):
    """One entry of a hub's protocol list (e.g. "CT whole abdomen, triphasic liver")."""

    __tablename__ = "hub_protocol"
    __table_args__ = (UniqueConstraint("hospital_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    modality_code: Mapped[str] = mapped_column(ForeignKey("modality.code"))
    # Sent as Scheduled Protocol Code Sequence (code value, scheme "99RADBOOK" + hub).
    code: Mapped[str] = mapped_column(String(16))
    name_th: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    # What the radiologist usually picks with it; the decision records the actual choice.
    contrast: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    def display_name(self, locale: str = "th") -> str:
        return self.name_en if locale == "en" else self.name_th


class VettingRule(Base):
    """The hub vets requests for this procedure before the exam (absent: no vetting)."""

    __tablename__ = "vetting_rule"

    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"), primary_key=True)


class RequestAttachment(Base):
    """A file sent with a request; readable only by its two hospitals.

    Kept in the database (not a directory) so that it is backed up, access-checked and
    purged with the request it belongs to; ``data`` is deferred so lists never load it.
    """

    __tablename__ = "request_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(Enum(AttachmentKind, native_enum=False, length=20))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    request: Mapped[ImagingRequest] = relationship(back_populates="attachments")
