"""The region view as an .xlsx workbook: one sheet per table, numbers as numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _

if TYPE_CHECKING:
    from openpyxl import Workbook

# openpyxl loads with the first workbook asked for, not at every process start.


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list]) -> None:
    from openpyxl.styles import Font

    sheet = book.create_sheet(title[:31])
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for column, name in zip(sheet.columns, header, strict=False):
        width = max([len(str(name))] + [len(str(c.value or "")) for c in column])
        sheet.column_dimensions[column[0].column_letter].width = min(width + 2, 50)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def workbook(data, locale: str) -> Workbook:
    """``data`` is ``app.region.routes.RegionReport``; hospitals by MOPH code and name."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)

    def name(hospital) -> str:
        return hospital.display_name(locale)

    period = [data.first.isoformat(), data.last.isoformat()]
    _sheet(
        book,
        _("Scanners"),
        [_("From"), _("To"), _("MOPH code"), _("Hospital"), _("AE title"), _("Modality"),
         _("Bookings"), _("Booked minutes"), _("Bookable minutes"), _("Used share")],
        [period + [s.hub.code, name(s.hub), s.device.ae_title, s.device.modality_code,
                   s.bookings, s.booked_minutes, s.capacity_minutes, _pct(s.used)]
         for s in data.scanners],
    )  # fmt: skip
    _sheet(
        book,
        _("Modalities"),
        [_("From"), _("To"), _("Modality"), _("Scanners"), _("Bookings"), _("Booked minutes"),
         _("Bookable minutes"), _("Used share")],
        [period + [m.modality_code, m.scanners, m.bookings, m.booked_minutes,
                   m.capacity_minutes, _pct(m.used)] for m in data.modalities],
    )  # fmt: skip
    _sheet(
        book,
        _("Waiting and returns"),
        [_("From"), _("To"), _("MOPH code"), _("Hospital"), _("Modality"), _("Exams"),
         _("Median days"), _("90th percentile days"), _("Target days"),
         _("Share within target"), _("No-shows"), _("No-show rate"), _("Completed"),
         _("Images back"), _("Images and report back, linked"), _("Linked share")],
        [period + [f.hub.code, name(f.hub), f.modality_code, f.exams, f.median_days,
                   f.p90_days, f.target_days, _pct(f.within_target), f.no_shows,
                   _pct(f.no_show_rate), f.completed, f.images_back, f.linked,
                   _pct(f.linked_share)] for f in data.figures],
    )  # fmt: skip
    _sheet(
        book,
        _("By referring hospital"),
        [_("From"), _("To"), _("MOPH code"), _("Hospital"), _("Modality"), _("Exams"),
         _("Median days"), _("90th percentile days"), _("Target days"),
         _("Share within target"), _("No-shows"), _("No-show rate")],
        [period + [f.hub.code, name(f.hub), f.modality_code, f.exams, f.median_days,
                   f.p90_days, f.target_days, _pct(f.within_target), f.no_shows,
                   _pct(f.no_show_rate)] for f in data.referrers],
    )  # fmt: skip
    _sheet(
        book,
        _("Quota use"),
        [_("From"), _("To"), _("MOPH code"), _("Hospital"), _("Reserved"), _("Used"),
         _("Used share")],
        [period + [q.hospital.code, name(q.hospital), q.reserved, q.used, _pct(q.share)]
         for q in data.quotas],
    )  # fmt: skip
    _sheet(
        book,
        _("Referral images"),
        [_("From"), _("To"), _("MOPH code"), _("Hospital"), _("Modality"), _("Online"),
         _("Sent on CD"), _("Not arrived yet"), _("Online share")],
        [period + [r.hospital.code, name(r.hospital), r.modality_code, r.online, r.on_cd,
                   r.waiting, _pct(r.share)] for r in data.referral_share],
    )  # fmt: skip
    return book
