"""LINE: a LINE user must not see or act on another patient's appointment, whatever
postback data or text (link codes, commands) they send to the webhook.

A user linked to the patient of worlds KM and KU, a user linked to SM's patient, and a
user linked to nobody each send every postback (confirm, change) for every world's
appointment and for a missing one, another patient's link code with a wrong birth date,
guessed codes and the commands. Nothing of another patient may change, no LINE answer
may carry another patient's markers, and another patient's appointment must be answered
exactly as a missing one.
"""

from __future__ import annotations

import itertools

from sqlalchemy import func, select

from app.extensions import db as _db
from integrations.line import linking
from integrations.line.linking import code_for_appointment
from integrations.line.models import LineOutbox, LinePatientLink, LinePatientReply, LineReplyKind
from scheduling.clock import utcnow
from scheduling.models import Appointment, Patient
from tests.integrations.line.conftest import SECRET, post_webhook, postback_event, text_event
from tests.security.matrix import FIGURES, report
from tests.security.worlds import Worlds

MISSING = 987654


def _answers(line_user_id: str, after: int) -> list[str]:
    """The texts RadBook queued for this LINE user since outbox row ``after``."""
    _db.session.expire_all()
    rows = list(
        _db.session.scalars(
            select(LineOutbox)
            .where(LineOutbox.line_user_id == line_user_id, LineOutbox.id > after)
            .order_by(LineOutbox.id)
        )
    )
    return [m.get("text", "") + m.get("altText", "") for row in rows for m in row.messages] + [
        row.summary for row in rows
    ]


def _last_outbox() -> int:
    return _db.session.scalar(select(func.max(LineOutbox.id))) or 0


def _world_state(w: Worlds, world: str) -> tuple:
    _db.session.expire_all()
    x = w[world]
    appointment = _db.session.get(Appointment, x.appointment_id)
    patient = _db.session.get(Patient, x.patient_id)
    replies = _db.session.scalar(
        select(func.count(LinePatientReply.id)).where(
            LinePatientReply.appointment_id == x.appointment_id
        )
    )
    link = _db.session.scalar(
        select(LinePatientLink.account_id).where(LinePatientLink.patient_id == x.patient_id)
    )
    return (
        appointment.status,
        appointment.start_at,
        patient.preferred_language,
        patient.updated_at,
        replies,
        link,
    )


def _leaks(
    w: Worlds, states: dict[str, tuple], linked: str | None, answers: list[str], what: str
) -> list[str]:
    """What one event did to other patients: a world whose state changed since
    ``states``, or a marker of a patient other than ``linked``'s in the answers."""
    hidden = w._hidden(lambda n: linked is not None and w[n].patient_id == w[linked].patient_id)
    return [f"{what}: {n} changed" for n in w.worlds if _world_state(w, n) != states[n]] + [
        f"{what}: shows {n}:{m}"
        for n, markers in hidden.items()
        for m in markers
        for text in answers
        if m in text
    ]


def test_line_user_cannot_see_or_touch_another_patients_appointment(app, worlds, request):
    now = utcnow()
    client = app.test_client()
    previous = app.config.get("LINE_CHANNEL_SECRET"), app.config.get("LINE_CHANNEL_ACCESS_TOKEN")
    app.config["LINE_CHANNEL_SECRET"], app.config["LINE_CHANNEL_ACCESS_TOKEN"] = SECRET, ""
    try:
        users = {"KM": "U" + "1" * 32, "SM": "U" + "2" * 32, None: "U" + "3" * 32}
        for world, user_id in users.items():
            if world is not None:
                account = linking.account_for(user_id, now)
                _db.session.add(
                    LinePatientLink(
                        account=account, linked_at=now, patient_id=worlds[world].patient_id
                    )
                )
        _db.session.commit()
        # Link codes on the slips of KU's and CU's appointments (their patients' own).
        codes = {
            n: code_for_appointment(
                _db.session.get(Appointment, worlds[n].appointment_id), now
            ).code
            for n in ("KU", "CU")
        }
        _db.session.commit()
        failures, tried = [], 0

        def send(user_id: str, event: dict) -> list[str]:
            after = _last_outbox()
            response = post_webhook(client, [event])
            assert response.status_code == 200
            return _answers(user_id, after)

        for (linked, user_id), (world, kind) in itertools.product(
            users.items(), itertools.product([*worlds.worlds, None], LineReplyKind)
        ):
            own = (
                linked is not None
                and world is not None
                and worlds[linked].patient_id == worlds[world].patient_id
            )
            if own:
                continue
            target = worlds[world].appointment_id if world else MISSING
            states = {n: _world_state(worlds, n) for n in worlds.worlds}
            answer = send(
                user_id, postback_event(user_id, f"radbook={kind.value}&appointment={target}")
            )
            tried += 1
            missing = send(
                user_id, postback_event(user_id, f"radbook={kind.value}&appointment={MISSING}")
            )
            if answer != missing:
                failures.append(
                    f"{linked}'s LINE user, {kind.value} on {world}: answered "
                    f"{answer}, a missing appointment {missing}"
                )
            failures += _leaks(
                worlds, states, linked, answer, f"{linked}'s LINE user, {kind.value} on {world}"
            )

        # Another patient's link code: a wrong birth date links nothing and tells nothing;
        # guessed codes the same.
        for (linked, user_id), (world, code) in itertools.product(users.items(), codes.items()):
            if linked is not None and worlds[linked].patient_id == worlds[world].patient_id:
                continue
            states = {n: _world_state(worlds, n) for n in worlds.worlds}
            answers = send(user_id, text_event(user_id, code))
            answers += send(user_id, text_event(user_id, "01/01/2500"))
            answers += send(user_id, text_event(user_id, "RB7Q2XK9"))
            tried += 3
            failures += _leaks(
                worlds, states, linked, answers, f"{linked}'s LINE user with {world}'s code"
            )

        # Commands act on the sender's own links only.
        for linked, user_id in users.items():
            for command in ("english", "stop", "start", "ภาษาไทย", "unlink"):
                others = {
                    n: _world_state(worlds, n)
                    for n in worlds.worlds
                    if linked is None or worlds[n].patient_id != worlds[linked].patient_id
                }
                send(user_id, text_event(user_id, command))
                tried += 1
                for n, state in others.items():
                    if _world_state(worlds, n) != state:
                        failures.append(f"{linked}'s LINE user '{command}': {n} changed")

        FIGURES["line"] += tried
        report(
            request,
            "line",
            f"3 LINE users (linked to KM+KU's patient, to SM's, to "
            f"nobody) × postbacks, link codes and commands over 4 worlds = {tried} events; "
            f"{len(failures)} failures",
        )
        assert not failures, "\n".join(failures[:40])

        # Positive control: a patient's own LINE user does reach the hub's inbox.
        user_id = "U" + "4" * 32
        account = linking.account_for(user_id, now)
        _db.session.add(
            LinePatientLink(account=account, linked_at=now, patient_id=worlds["SM"].patient_id)
        )
        _db.session.commit()
        before = _world_state(worlds, "SM")
        send(
            user_id,
            postback_event(user_id, f"radbook=confirm&appointment={worlds['SM'].appointment_id}"),
        )
        assert _world_state(worlds, "SM")[4] == before[4] + 1
    finally:
        app.config["LINE_CHANNEL_SECRET"], app.config["LINE_CHANNEL_ACCESS_TOKEN"] = previous
