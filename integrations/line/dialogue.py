"""What happens when a webhook event arrives: follow, unfollow, text, button answers.

Each event is handled in its own transaction, recorded by ``webhookEventId`` first so
a redelivery is recognised and ignored. Answers to the patient are outbox rows with
the event's reply token; the webhook sends them right after the commit.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import parse_qs

from linebot.v3.webhooks import (
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from integrations.line import linking, messages, outbox
from integrations.line.messages import t
from integrations.line.models import (
    LineAccount,
    LineOutbox,
    LinePatientLink,
    LinePatientReply,
    LineReplyKind,
    LineWebhookEvent,
)
from scheduling.audit import record
from scheduling.clock import local_today
from scheduling.db import db
from scheduling.errors import ValidationFailed
from scheduling.i18n import N_
from scheduling.models import Appointment, AppointmentStatus
from scheduling.models.types import row_id

log = logging.getLogger(__name__)

# LINE user IDs are "U" and 32 hex digits; the column holds 64 characters.
LINE_USER_ID = re.compile(r"^U[0-9A-Za-z]{1,63}$")


def account_locale(account: LineAccount) -> str:
    for link in account.links:
        return outbox.locale_of(link.patient)
    return "th"


class Conversation:
    """One event's answers, queued as outbox rows with its reply token."""

    def __init__(self, account: LineAccount, now: datetime, reply_token: str | None):
        self.account = account
        self.now = now
        self.reply_token = reply_token
        self._rows: list[LineOutbox] = []

    @property
    def locale(self) -> str:
        return account_locale(self.account)

    def say(self, msgid: str, locale: str | None = None, **params: object) -> None:
        text = t(locale or self.locale, msgid, **params)
        # One reply token answers once: later sentences join the first message's request.
        if self._rows and self._rows[-1].reply_token == self.reply_token:
            row = self._rows[-1]
            if len(row.messages) < 5:
                row.messages = [*row.messages, *messages.text(text)]
                row.summary = (row.summary + " / " + text)[:400]
                return
        row = outbox.queue_dialogue(
            self.account, self.now, text, reply_token=self.reply_token, locale=locale or self.locale
        )
        self._rows.append(row)

    def flush(self) -> list[int]:
        db.session.flush()
        return [row.id for row in self._rows]


def handle_events(events: list, now: datetime) -> list[int]:
    """Process parsed SDK events; returns outbox row ids to send at once. Commits."""
    to_send: list[int] = []
    for event in events:
        try:
            to_send += _handle_one(event, now)
            db.session.commit()
        except IntegrityError:
            # The same webhookEventId being handled concurrently (a redelivery): theirs wins.
            db.session.rollback()
        except ValidationFailed as exc:
            # A value no column can hold (an id longer than LINE ever sends): skip the
            # event, answer the others (found by tests/fuzz).
            db.session.rollback()
            log.warning("LINE event skipped: %s", exc.code)
    return to_send


def _handle_one(event, now: datetime) -> list[int]:
    event_id = getattr(event, "webhook_event_id", None)
    source = getattr(event, "source", None)
    user_id = source.user_id if isinstance(source, UserSource) else None
    if user_id is not None and not LINE_USER_ID.match(user_id):
        return []  # not a LINE user ID ("U" and 32 hex digits): nobody to answer
    if event_id:
        seen = db.session.scalar(
            select(LineWebhookEvent.id).where(LineWebhookEvent.webhook_event_id == event_id)
        )
        if seen is not None:
            return []
        context = getattr(event, "delivery_context", None)
        db.session.add(
            LineWebhookEvent(
                webhook_event_id=event_id,
                event_type=str(getattr(event, "type", "unknown"))[:40],
                line_user_id=user_id,
                received_at=now,
                is_redelivery=bool(getattr(context, "is_redelivery", False)),
            )
        )
        db.session.flush()
    if user_id is None:
        return []  # group and room chats are not for patient messages
    account = linking.account_for(user_id, now)
    talk = Conversation(account, now, getattr(event, "reply_token", None))
    if isinstance(event, FollowEvent):
        _on_follow(talk)
    elif isinstance(event, UnfollowEvent):
        _on_unfollow(account, now)
    elif isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
        _on_text(talk, event.message.text or "")
    elif isinstance(event, PostbackEvent):
        _on_postback(talk, event.postback.data or "")
    return talk.flush()


def _on_follow(talk: Conversation) -> None:
    account = talk.account
    account.is_following = True
    account.updated_at = talk.now
    record(linking.line_actor(account.line_user_id), "line.follow", talk.now, entity=account)
    talk.say(
        N_(
            "Hello. This account sends your imaging appointment details and reminders. "
            "To receive them, send the link code printed on your appointment slip "
            "(scanning the slip's QR code types it for you)."
        )
    )


def _on_unfollow(account: LineAccount, now: datetime) -> None:
    # Blocked or removed: LINE will refuse pushes, and the patient has said no.
    account.is_following = False
    record(linking.line_actor(account.line_user_id), "line.unfollow", now, entity=account)
    linking.unlink_all(account, now, "unfollowed")


def _matches(text: str, words: tuple[str, ...]) -> bool:
    return text.strip().lower() in words


def _on_text(talk: Conversation, text: str) -> None:
    account, now = talk.account, talk.now
    if linking.is_locked(account, now):
        talk.say(N_("Too many wrong attempts. Please try again in an hour, or call the hospital."))
        return
    if _matches(text, messages.UNLINK_WORDS):
        if linking.unlink_all(account, now, "patient asked"):
            talk.say(N_("Unlinked. You will no longer receive appointment messages here."))
        else:
            talk.say(N_("This LINE account is not linked to any patient."))
        return
    if _matches(text, messages.STOP_WORDS) or _matches(text, messages.START_WORDS):
        stop = _matches(text, messages.STOP_WORDS)
        account.opted_out = stop
        account.updated_at = now
        record(
            linking.line_actor(account.line_user_id),
            "line.opt_out" if stop else "line.opt_in",
            now,
            entity=account,
        )
        if stop:
            talk.say(
                N_('Reminders are paused. Type "%(word)s" to receive them again.'),
                word=messages.word(messages.START_WORDS, talk.locale),
            )
        else:
            talk.say(N_("Reminders are on again."))
        return
    if _matches(text, messages.ENGLISH_WORDS) or _matches(text, messages.THAI_WORDS):
        locale = "en" if _matches(text, messages.ENGLISH_WORDS) else "th"
        for link in account.links:
            link.patient.preferred_language = locale
            link.patient.updated_at = now
        talk.say(N_("Messages will now be sent in English."), locale=locale)
        return
    code_text = linking.find_code_in(text)
    if code_text is not None:
        _on_code(talk, code_text)
        return
    if account.pending_code_id is not None:
        _on_birth_date(talk, text)
        return
    talk.say(
        N_(
            "Sorry, this chat only handles appointment messages. To link, send the code "
            "from your appointment slip. To stop receiving messages here, type "
            '"%(word)s". For anything else please call the hospital.'
        ),
        word=messages.word(messages.UNLINK_WORDS, talk.locale),
    )


def _on_code(talk: Conversation, code_text: str) -> None:
    account, now = talk.account, talk.now
    code = linking.usable_code(code_text, now)
    if code is None:
        linking.count_failure(account, now)
        talk.say(
            N_(
                "This link code is not valid or has expired. Please check the code on "
                "your appointment slip, or ask the hospital for a new slip."
            )
        )
        return
    account.pending_code_id = code.id
    account.updated_at = now
    talk.say(
        N_(
            "To confirm it is you, please type the patient's date of birth, for example "
            "14/03/2511 (Buddhist year) or 14/03/1968."
        )
    )


def _on_birth_date(talk: Conversation, text: str) -> None:
    account, now = talk.account, talk.now
    code = linking.usable_code(account.pending_code.code, now) if account.pending_code else None
    if code is None:
        account.pending_code_id = None
        talk.say(
            N_(
                "This link code is not valid or has expired. Please check the code on "
                "your appointment slip, or ask the hospital for a new slip."
            )
        )
        return
    given = linking.parse_birth_date(text, local_today(now))
    if given is None:
        talk.say(N_("Please type the date of birth as day/month/year, for example 14/03/2511."))
        return
    patient = code.patient
    if patient.birth_date is None or given != patient.birth_date:
        code.failed_checks += 1
        linking.count_failure(account, now)
        if code.failed_checks >= linking.MAX_CHECKS_PER_CODE:
            code.revoked = True
            account.pending_code_id = None
            record(
                linking.line_actor(account.line_user_id),
                "line.code_revoked",
                now,
                entity=code,
                patient_id=patient.id,
            )
            talk.say(
                N_(
                    "The date of birth did not match too many times. For safety this code "
                    "no longer works; please ask the hospital for a new appointment slip."
                )
            )
        elif not linking.is_locked(account, now):
            talk.say(N_("The date of birth does not match our records. Please try again."))
        else:
            talk.say(
                N_("Too many wrong attempts. Please try again in an hour, or call the hospital.")
            )
        return
    linking.link_patient(account, code, now)
    locale = outbox.locale_of(patient)
    talk.say(
        N_(
            "Linked. Appointment messages for %(name)s will be sent to this LINE account. "
            'To stop, type "%(word)s".'
        ),
        locale=locale,
        name=messages.patient_display_name(patient, locale),
        word=messages.word(messages.UNLINK_WORDS, locale),
    )
    for appointment in linking.upcoming_appointments(patient.id, now):
        outbox.queue_booking_messages(appointment, now)


def _on_postback(talk: Conversation, data: str) -> None:
    account, now = talk.account, talk.now
    params = parse_qs(data)
    action = (params.get("radbook") or [""])[0]
    try:
        kind = LineReplyKind(action)
        appointment_id = row_id((params.get("appointment") or ["0"])[0])
    except ValueError:
        return
    # An id beyond the database integer is no appointment (found by tests/fuzz).
    appointment = db.session.get(Appointment, appointment_id) if appointment_id else None
    linked = appointment is not None and db.session.scalar(
        select(LinePatientLink.id).where(
            LinePatientLink.account_id == account.id,
            LinePatientLink.patient_id == appointment.patient_id,
        )
    )
    if (
        not linked
        or appointment.status is not AppointmentStatus.BOOKED
        or (appointment.start_at <= now)
    ):
        talk.say(
            N_(
                "This appointment is no longer active. Please call the hospital if you "
                "have questions."
            )
        )
        return
    locale = outbox.locale_of(appointment.patient)
    waiting = db.session.scalar(
        select(LinePatientReply).where(
            LinePatientReply.appointment_id == appointment.id,
            LinePatientReply.kind == kind,
            LinePatientReply.handled.is_(False),
        )
    )
    if waiting is None:  # a second tap on the same button adds nothing to the inbox
        reply = LinePatientReply(
            kind=kind,
            appointment=appointment,
            request_id=appointment.request_id,
            hub_hospital_id=appointment.hub_hospital_id,
            patient_id=appointment.patient_id,
            line_user_id=account.line_user_id,
            received_at=now,
            handled=False,
        )
        db.session.add(reply)
        db.session.flush()
        record(
            linking.line_actor(account.line_user_id),
            f"line.reply_{kind.value}",
            now,
            entity=reply,
            hospital_id=appointment.hub_hospital_id,
            appointment_id=appointment.id,
            request_id=appointment.request_id,
        )
    if kind is LineReplyKind.CONFIRM:
        talk.say(
            N_("Thank you. We have noted that you will come to your appointment."), locale=locale
        )
    else:
        talk.say(
            N_(
                "We have told the appointment staff. They will contact you to cancel or "
                "move your appointment."
            ),
            locale=locale,
        )
