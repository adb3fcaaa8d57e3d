"""What the hub's .xlsx files share: openpyxl loaded once, on first use (never at
start-up: tests/app/test_startup.py), a write-only sheet, and the download response."""

from __future__ import annotations

from functools import cache
from io import BytesIO
from types import SimpleNamespace

from flask import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@cache
def openpyxl() -> SimpleNamespace:
    """The parts of openpyxl the hub uses, imported on the first call."""
    from openpyxl import Workbook, load_workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils.exceptions import InvalidFileException

    return SimpleNamespace(
        Workbook=Workbook,
        load_workbook=load_workbook,
        WriteOnlyCell=WriteOnlyCell,
        Font=Font,
        InvalidFileException=InvalidFileException,
    )


def new_sheet(title: str):
    """A write-only workbook and its one sheet (Excel allows 31 characters of title)."""
    book = openpyxl().Workbook(write_only=True)
    return book, book.create_sheet(title=title[:31])


def download(book, name: str) -> Response:
    out = BytesIO()
    book.save(out)
    return Response(
        out.getvalue(),
        mimetype=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
