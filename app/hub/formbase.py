"""A FlaskForm whose built-in WTForms messages are translated through our own catalogue.

WTForms ships no Thai catalogue, so "Not a valid integer value." would reach a Thai
scheduler in English. The msgids WTForms uses are listed here with ``N_`` so that
``pybabel extract`` puts them in ``messages.po`` where they get their Thai.
"""

from __future__ import annotations

from flask_babel import get_translations
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

from scheduling.i18n import N_

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


def options(pairs) -> list[SelectChoice]:
    """``[(value, label), ...]`` as WTForms 3.3 wants select choices (tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]
