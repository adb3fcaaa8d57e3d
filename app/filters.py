"""Jinja filters and globals: Buddhist-Era dates, local times, Thai names."""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext

from app.labels import label
from app.webkit.views import locale
from scheduling import regions, thaidate
from scheduling.patients import format_national_id, mask_national_id, prefix_text


def be_date(value, long: bool = False, weekday: bool = False) -> str:
    return thaidate.display_date(value, locale(), long=long, weekday=weekday)


def patient_name(patient, lang: str | None = None) -> str:
    lang = lang or locale()
    if patient is None:
        return ""
    if lang == "en" and patient.given_name_en:
        return " ".join(
            p
            for p in (
                prefix_text(patient.prefix, "en"),
                patient.given_name_en,
                patient.family_name_en,
            )
            if p
        )
    return " ".join(
        p
        for p in (prefix_text(patient.prefix, "th") + patient.given_name_th, patient.family_name_th)
        if p
    )


def localized(obj, attr: str = "name") -> str:
    """``name_th`` or ``name_en`` of a model, by the current locale."""
    return getattr(obj, f"{attr}_{locale()}", None) or getattr(obj, f"{attr}_th", "")


def region_label(hospital_or_region) -> str:
    """เขตสุขภาพที่ 7 for a hospital (by its province) or a region number; "" if unknown."""
    region = (
        hospital_or_region
        if isinstance(hospital_or_region, int) or hospital_or_region is None
        else regions.region_of(hospital_or_region)
    )
    return regions.region_name(region, locale()) if region else ""


def distance(value) -> str:
    """A ``regions.Distance`` estimate as staff read it: whole km and h:mm by car."""
    if value is None:
        return gettext("distance unknown")
    hours, minutes = divmod(value.minutes, 60)
    road_km, drive = f"{value.km:,.0f}", f"{hours}:{minutes:02d}"
    return gettext("about %(km)s km, %(time)s h by car", km=road_km, time=drive)


def register(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["be_date"] = be_date
    app.jinja_env.filters["hhmm"] = thaidate.local_time
    app.jinja_env.filters["patient_name"] = patient_name
    app.jinja_env.filters["masked_id"] = mask_national_id
    app.jinja_env.filters["full_id"] = format_national_id
    app.jinja_env.filters["localized"] = localized
    app.jinja_env.globals["current_locale"] = locale
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["region"] = region_label
    app.jinja_env.filters["distance"] = distance
