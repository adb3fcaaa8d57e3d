"""Forms of the web adapter: the base form, choice builders, the reason form.

``RadBookForm`` is a FlaskForm whose built-in WTForms messages are translated through
our own catalogue. WTForms ships no Thai catalogue, so "Not a valid integer value."
would reach a Thai scheduler in English. The msgids WTForms uses are listed here with
``N_`` so that ``pybabel extract`` puts them in ``messages.po`` where they get their Thai.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.labels import label
from app.webkit.views import locale
from scheduling import regions
from scheduling.i18n import N_
from scheduling.models import Device, Hospital, Modality

WTFORMS_MESSAGES = (
    N_("This field is required."),
    N_("Not a valid choice."),
    N_("Invalid Choice: could not coerce."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Not a valid date value."),
    N_("Invalid URL."),
    N_("Invalid input."),
    N_("Field must be equal to %(other_name)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    # WTForms asks for these through ngettext; Thai has one plural form, so each is
    # looked up as a plain msgid (see _CatalogueTranslations.ngettext).
    N_("Field must be at least %(min)d character long."),
    N_("Field must be at least %(min)d characters long."),
    N_("Field cannot be longer than %(max)d character."),
    N_("Field cannot be longer than %(max)d characters."),
    N_("Field must be exactly %(max)d character long."),
    N_("Field must be exactly %(max)d characters long."),
    N_("Not a valid float value."),
    N_("Not a valid datetime value."),
    N_("Not a valid time value."),
    N_("Invalid value, must be one of: %(values)s."),
    N_("Invalid value, can't be any of: %(values)s."),
    N_("Date must be between %(min)s and %(max)s."),
    N_("Date must be at least %(min)s."),
    N_("Date must be at most %(max)s."),
)


class _CatalogueTranslations:
    # The raw catalogue, not flask_babel.gettext: WTForms formats the result itself,
    # and flask_babel.ngettext would format with only ``num`` and fail on ``%(min)d``.
    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        chosen = singular if n == 1 else plural
        translated = get_translations().ungettext(singular, plural, n)
        if translated == chosen:  # no plural entry: the plain msgid (found by tests/fuzz)
            translated = get_translations().ugettext(chosen)
        return translated


class RadBookForm(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return _CatalogueTranslations()


class RadBookSubform(Form):
    """A form nested in a ``RadBookForm`` (``FormField``): no CSRF token of its own,
    the same translated messages."""

    class Meta:
        def get_translations(self, form):
            return _CatalogueTranslations()


class ReasonForm(RadBookForm):
    """Why a request is rejected or cancelled, or a booking cancelled: the other side
    reads the reason, and the audit keeps it.

    ``required_message`` replaces "Give a reason" where the page should say who reads it.
    """

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Give a reason")),
            Length(max=1000, message=_l("At most 1000 characters")),
        ],
    )
    submit = SubmitField(_l("Confirm"))

    def __init__(self, *args, required_message: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if required_message is not None:
            others = [v for v in self.reason.validators if not isinstance(v, DataRequired)]
            self.reason.validators = [DataRequired(required_message), *others]


# -- choices -----------------------------------------------------------------------------

Pair = tuple[object, object]


def options(pairs: Iterable[Pair], first: Pair | None = None) -> list[SelectChoice]:
    """``[(value, label), ...]`` as WTForms 3.3 wants select choices (tuples are
    deprecated); ``first`` (e.g. ``("", "—")``) goes before them."""
    return [SelectChoice(value, text) for value, text in ([first] if first else []) + list(pairs)]


def enum_options(members: Iterable[Enum], first: Pair | None = None) -> list[SelectChoice]:
    """Enum members by name, labelled in the reader's language (``app.labels``)."""
    return options(((m.name, label(m)) for m in members), first)


def modality_options(
    modalities: Iterable[Modality], first: Pair | None = None
) -> list[SelectChoice]:
    """``US · อัลตราซาวด์``: the DICOM code, then the name in the reader's language."""
    english = locale() == "en"
    return options(
        ((m.code, f"{m.code} · {m.name_en if english else m.name_th}") for m in modalities), first
    )


def device_options(devices: Iterable[Device], first: Pair | None = None) -> list[SelectChoice]:
    """``Ultrasound 1 (MKH_US1)``: the device's name and its AE title."""
    return options(((d.id, f"{d.name} ({d.ae_title})") for d in devices), first)


def hospital_options(
    hospitals: Iterable[Hospital], first: Pair | None = None
) -> list[SelectChoice]:
    """``10707 · โรงพยาบาลมหาสารคาม``: the MOPH code, then the name in the reader's language."""
    return options(((h.id, f"{h.code} · {h.display_name(locale())}") for h in hospitals), first)


def province_options() -> list[SelectChoice]:
    """Provinces by health region, then name in the reader's language."""
    english = locale() == "en"
    provinces = sorted(
        regions.PROVINCES.values(),
        key=lambda p: (p.region, p.name_en if english else p.name_th),
    )
    return options(
        (
            (
                p.code,
                f"{p.name_en if english else p.name_th} · "
                f"{regions.region_name(p.region, 'en' if english else 'th')}",
            )
            for p in provinces
        ),
        first=("", "—"),
    )
