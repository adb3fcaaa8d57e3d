"""What patients read on LINE: Flex messages (with alt text) and plain dialogue texts.

Thai by default, English when the patient chose it (``Patient.preferred_language``).
Texts are English msgids marked ``N_`` and translated with the patient's locale here,
because these run in the jobs process and webhook, not in a staff member's request.
Dates are Buddhist Era in Thai (``scheduling.thaidate``), times on the 24-hour clock.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from integrations.line.settings import ReminderRule
from scheduling.clock import to_local
from scheduling.i18n import N_, translate
from scheduling.models import Appointment, Closure, Patient
from scheduling.patients import prefix_text
from scheduling.thaidate import english_date, local_time, thai_date

HEADER_COLOUR = "#0B6E69"
MUTED = "#666666"
MAX_ALT_TEXT = 400  # LINE allows 1,500; notification previews show far less

# Words a patient types; both languages are understood whatever the chosen locale.
UNLINK_WORDS = ("ยกเลิกการเชื่อมต่อ", "unlink")
STOP_WORDS = ("หยุดแจ้งเตือน", "stop")
START_WORDS = ("รับแจ้งเตือน", "start")
ENGLISH_WORDS = ("english", "ภาษาอังกฤษ")
THAI_WORDS = ("ภาษาไทย", "thai")


def word(words: tuple[str, str], locale: str) -> str:
    return words[1] if locale == "en" else words[0]


def t(locale: str, msgid: str, **params: object) -> str:
    return translate(msgid, locale, **params)


def patient_display_name(patient: Patient, locale: str) -> str:
    if locale == "en" and patient.given_name_en:
        parts = (prefix_text(patient.prefix, "en"), patient.given_name_en, patient.family_name_en)
        return " ".join(p for p in parts if p)
    return " ".join(
        p
        for p in (prefix_text(patient.prefix, "th") + patient.given_name_th, patient.family_name_th)
        if p
    )


def exam_date(appointment: Appointment, locale: str, long: bool = True) -> str:
    if locale == "en":
        local = to_local(appointment.start_at)
        return f"{local:%A}, {english_date(appointment.start_at)}"
    return thai_date(appointment.start_at, long=long, weekday=True)


def exam_time(appointment: Appointment, locale: str) -> str:
    hhmm = local_time(appointment.start_at)
    return hhmm if locale == "en" else f"{hhmm} น."


def postback_data(action: str, appointment: Appointment) -> str:
    return urlencode({"radbook": action, "appointment": appointment.id})


# -- Flex building blocks ---------------------------------------------------------------
def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": text or " ", "wrap": True, **style}


def _row(label: str, value: str) -> dict[str, Any]:
    return {
        "type": "box",
        "layout": "baseline",
        "spacing": "sm",
        "contents": [
            _text(label, size="sm", color=MUTED, flex=2),
            _text(value, size="sm", flex=5),
        ],
    }


def _button(action: dict[str, Any], style: str = "link") -> dict[str, Any]:
    return {"type": "button", "style": style, "height": "sm", "action": action}


def _bubble(hospital_name: str, title: str, body: list[dict], footer: list[dict]) -> dict:
    bubble: dict[str, Any] = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "backgroundColor": HEADER_COLOUR,
            "contents": [
                _text(hospital_name, size="sm", color="#FFFFFF"),
                _text(title, size="lg", weight="bold", color="#FFFFFF"),
            ],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": body},
    }
    if footer:
        bubble["footer"] = {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": footer,
        }
    return bubble


def _flex(alt_text: str, bubble: dict) -> dict[str, Any]:
    return {"type": "flex", "altText": alt_text[:MAX_ALT_TEXT], "contents": bubble}


def _details(appointment: Appointment, locale: str, *, with_prep: bool = True) -> list[dict]:
    hospital = appointment.hub_hospital
    device = appointment.device
    procedure = appointment.request.procedure
    room = device.room_en if locale == "en" and device.room_en else device.room_th
    rows = [
        _text(patient_display_name(appointment.patient, locale), weight="bold"),
        _row(t(locale, N_("Exam")), procedure.display_name(locale)),
        _row(t(locale, N_("Date")), exam_date(appointment, locale)),
        _row(t(locale, N_("Time")), exam_time(appointment, locale)),
        _row(t(locale, N_("Place")), hospital.display_name(locale)),
        _row(t(locale, N_("Room")), room or "-"),
        _row(t(locale, N_("Appointment code")), appointment.appointment_code),
    ]
    prep = procedure.prep_en if locale == "en" and procedure.prep_en else procedure.prep_th
    if with_prep and prep:
        rows += [
            {"type": "separator"},
            _text(t(locale, N_("How to prepare")), weight="bold", size="sm"),
            _text(prep, size="sm"),
        ]
    rows.append(
        _text(
            t(locale, N_("Please arrive 30 minutes early and bring your ID card.")),
            size="xs",
            color=MUTED,
        )
    )
    return rows


def _answer_buttons(appointment: Appointment, locale: str) -> list[dict]:
    confirm = t(locale, N_("I will come"))
    change = t(locale, N_("Cancel or change date"))
    return [
        _button(
            {
                "type": "postback",
                "label": confirm,
                "displayText": confirm,
                "data": postback_data("confirm", appointment),
            },
            style="primary",
        ),
        _button(
            {
                "type": "postback",
                "label": change,
                "displayText": change,
                "data": postback_data("change", appointment),
            },
            style="secondary",
        ),
    ]


def _contact_buttons(appointment: Appointment, locale: str) -> list[dict]:
    hospital = appointment.hub_hospital
    buttons = []
    if hospital.map_url:
        buttons.append(
            _button({"type": "uri", "label": t(locale, N_("Map")), "uri": hospital.map_url})
        )
    if hospital.phone:
        digits = "".join(ch for ch in hospital.phone if ch.isdigit() or ch == "+")
        buttons.append(
            _button(
                {"type": "uri", "label": t(locale, N_("Call the hospital")), "uri": f"tel:{digits}"}
            )
        )
    return buttons


def _alt(appointment: Appointment, locale: str, title: str) -> str:
    return t(
        locale,
        N_("%(title)s: %(date)s at %(time)s, %(hospital)s"),
        title=title,
        date=exam_date(appointment, locale, long=False),
        time=exam_time(appointment, locale),
        hospital=appointment.hub_hospital.display_name(locale),
    )


# -- the messages -----------------------------------------------------------------------
def confirmation(appointment: Appointment, locale: str) -> tuple[list[dict], str]:
    title = t(locale, N_("Appointment booked"))
    alt = _alt(appointment, locale, title)
    bubble = _bubble(
        appointment.hub_hospital.display_name(locale),
        title,
        _details(appointment, locale),
        _answer_buttons(appointment, locale) + _contact_buttons(appointment, locale),
    )
    return [_flex(alt, bubble)], alt


def reminder_title(rule: ReminderRule, locale: str) -> str:
    if rule.days == 0:
        return t(locale, N_("Reminder: your appointment is today"))
    if rule.days == -1:
        return t(locale, N_("Reminder: your appointment is tomorrow"))
    return t(locale, N_("Reminder: your appointment is in %(days)s days"), days=-rule.days)


def reminder(appointment: Appointment, locale: str, rule: ReminderRule) -> tuple[list[dict], str]:
    title = reminder_title(rule, locale)
    alt = _alt(appointment, locale, title)
    buttons = _contact_buttons(appointment, locale)
    if rule.days != 0:  # on the day, asking to move it is for the telephone
        buttons = _answer_buttons(appointment, locale) + buttons
    bubble = _bubble(
        appointment.hub_hospital.display_name(locale), title, _details(appointment, locale), buttons
    )
    return [_flex(alt, bubble)], alt


def closure_name(closure: Closure, locale: str) -> str:
    """A closure's name as the patient reads it: the reason a closure moved a booking."""
    if locale == "en" and closure.name_en:
        return closure.name_en
    return closure.name_th or closure.name_en


def _reason_row(reason: str | None, locale: str) -> list[dict]:
    return [_row(t(locale, N_("Reason")), reason)] if reason else []


def rescheduled(
    appointment: Appointment, previous: Appointment | None, locale: str, reason: str | None = None
) -> tuple[list[dict], str]:
    """The booking moved; ``reason`` (a closure's name) says why when a closure moved it."""
    title = t(locale, N_("Your appointment has been moved"))
    alt = _alt(appointment, locale, title)
    body = _details(appointment, locale)
    lead = []
    if previous is not None:
        was = t(
            locale,
            N_("Previously: %(date)s at %(time)s"),
            date=exam_date(previous, locale, long=False),
            time=exam_time(previous, locale),
        )
        lead.append(_text(was, size="sm", color=MUTED, decoration="line-through"))
    body[1:1] = lead + _reason_row(reason, locale)
    bubble = _bubble(
        appointment.hub_hospital.display_name(locale),
        title,
        body,
        _answer_buttons(appointment, locale) + _contact_buttons(appointment, locale),
    )
    return [_flex(alt, bubble)], alt


def cancelled(
    appointment: Appointment, locale: str, reason: str | None = None
) -> tuple[list[dict], str]:
    """The booking was cancelled; ``reason`` as in ``rescheduled``."""
    title = t(locale, N_("Your appointment has been cancelled"))
    alt = _alt(appointment, locale, title)
    body = _details(appointment, locale, with_prep=False)[:5] + _reason_row(reason, locale)
    body.append(
        _text(
            t(
                locale,
                N_(
                    "You do not need to come for this appointment. If you have "
                    "questions, please call the hospital."
                ),
            ),
            size="sm",
        )
    )
    bubble = _bubble(
        appointment.hub_hospital.display_name(locale),
        title,
        body,
        _contact_buttons(appointment, locale),
    )
    return [_flex(alt, bubble)], alt


def text(message: str) -> list[dict]:
    return [{"type": "text", "text": message[:5000]}]
