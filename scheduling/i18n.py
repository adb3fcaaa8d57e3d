"""Translation outside a web request (DICOM, HL7, LINE and job threads have no locale).

Domain messages are English msgids marked with ``N_`` so ``pybabel extract`` finds
them; they are translated when shown, for whichever language the reader uses.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def N_(message: str) -> str:
    """Mark a message for extraction without translating it now."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [locale])


def translate(message: str, locale: str = "th", **params: object) -> str:
    text = translations(locale).gettext(message)
    return text % params if params else text
