"""Every web route × every role × own and other hospital, generated from ``app.url_map``.

For each rule and method, each actor (anonymous and seven users) tries the route with
the URL parameters filled by every world's object (``worlds.py``) and by an id that
does not exist. It fails on

- a server error;
- anonymous access to anything but the public routes;
- another hospital's markers (patient, request, appointment, report) in any body;
- another hospital's object answered differently from a missing one (so 404, or the
  role's 403, never a page and never a status that confirms the row exists);
- a database change after a POST on another hospital's object (or by anonymous).

A rule nobody has classified in ``ROUTES`` fails ``test_every_rule_is_classified``, so
a new route cannot slip past the matrix. FHIR's and LINE's routes are classified here
for the web session (a login cookie must not open them) and tried with their own
credentials in ``test_fhir_access.py`` and ``test_line_access.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from tests.conftest import login
from tests.security.matrix import FIGURES, WriteWatch, fingerprint, report
from tests.security.worlds import HUB_OF, MKH, UDN, VISIBLE_TO, Worlds

ACTORS = (
    "anonymous",
    "staff.kudrang",
    "staff.kosum",
    "scheduler.mkh",
    "radiologist.mkh",
    "scheduler.udn",
    "radiologist.udn",
    # sees no world at all: aggregates of its region only
    "region7.office",
    "admin",
)
MISSING_ID = 987654321
REASON = "ทดสอบสิทธิ์การเข้าถึง"


@dataclass(frozen=True)
class Target:
    """A value for a URL parameter (or a form field): whose it is, and who may see it."""

    label: str
    value: int | str
    visible_to: Callable[[str], bool]
    hub: str | None = None  # hub code of the object (for slots in move/book forms)
    world: str | None = None

    @property
    def missing(self) -> bool:
        return self.value == MISSING_ID


@dataclass(frozen=True)
class Route:
    """How the matrix treats one rule.

    ``access``: ``public`` (anyone), ``login`` (a web session) or ``token`` (FHIR's
    bearer token; a web session must not do). ``queries``: GET query strings to try.
    ``form``: the POST body, given the target. ``form_target``: the kind of object the
    body refers to, for rules whose URL names none (tried with each such object).
    """

    access: str = "login"
    queries: Callable[[Worlds], list[dict]] | None = None
    form: Callable[[Worlds, Target | None], dict] | None = None
    form_target: str | None = None
    posts: Callable[[Worlds], list[dict]] | None = None  # several POST bodies to try
    why: str = ""
    params: dict[str, str] = field(default_factory=dict)  # parameter -> target kind


def _hub_queries(w: Worlds) -> list[dict]:
    days = sorted({world.day.isoformat() for world in w.worlds.values()})
    return [{"date": d, "hub": w.hospitals[code]} for d in days for code in (MKH, UDN)]


def _hub_tabs(w: Worlds) -> list[dict]:
    return [
        {"tab": tab, "hub": w.hospitals[code]} for tab in ("new", "accepted") for code in (MKH, UDN)
    ]


def _waitlist_booking(w: Worlds, target: Target | None) -> dict:
    device_id, start = _slot(w, target)
    return {"device": device_id, "start": start}


def _device_queries(w: Worlds) -> list[dict]:
    """A stretch of each hub's device (the board's gaps, freed slots, extra bookings)."""
    queries = []
    for code in (MKH, UDN):
        device_id, start = w.free_slots[code]
        end = (datetime.fromisoformat(start) + timedelta(hours=2)).isoformat()
        queries.append({"device": w.devices[code], "start": start, "end": end})
        queries.append({"device": device_id, "start": start, "end": end})
    return queries


def _with_hubs(w: Worlds) -> list[dict]:
    return [{}, {"hub": w.hospitals[UDN]}, {"hub": w.hospitals[MKH]}]


def _patient_searches(w: Worlds) -> list[dict]:
    queries = [{}]
    for world in w.worlds.values():
        given, hn, cid = world.markers[-3:]
        queries += [{"q": cid}, {"q": given}, {"q": hn}]
    return queries


def _request_filters(w: Worlds) -> list[dict]:
    from app.requests.listing import FILTERS

    return [{}] + [{"status": f.key} for f in FILTERS]


def _slot(w: Worlds, target: Target | None, hub: str = MKH) -> tuple[int, str]:
    return w.free_slots[target.hub if target is not None and target.hub else hub]


def _confirm_query(w: Worlds) -> list[dict]:
    device_id, start = w.free_slots[MKH]
    return [{"device_id": device_id, "start_at": start}]


def _patient_form(w: Worlds, target: Target | None) -> dict:
    world = (
        next((x for x in w.worlds.values() if x.patient_id == target.value), None)
        if target is not None
        else None
    )
    born = world.patient_birth if world is not None else None
    return {
        "id_type": "NATIONAL_ID",
        "id_value": world.patient_cid if world is not None else "1900100000419",
        "prefix": "MR",
        "given_name_th": world.markers[-3] if world else "ใหม่ทดสอบ",
        "family_name_th": "ทดสอบสิทธิ์",
        "sex": "MALE",
        "phone": "0899999999",
        "birth_day": str(born.day) if born else "1",
        "birth_month": str(born.month) if born else "1",
        "birth_year_be": str(born.year + 543) if born else "2530",
    }


def _request_form(w: Worlds, target: Target | None) -> dict:
    # To the hub the patient's world already uses: a request to another hub would (rightly)
    # show that hub the patient, and the hand-written visibility table would be out of date.
    world = w[target.world] if target is not None and target.world else w["KM"]
    return {
        "procedure_id": world.procedure_id,
        "hub_hospital_id": str(world.hub_id),
        "priority": "ROUTINE",
        "indication": "ทดสอบ",
        "requesting_clinician": "หมอทดสอบ",
        "modality": "",
    }


def _move_form(w: Worlds, target: Target | None) -> dict:
    device_id, start = _slot(w, target)
    return {"slot": f"{device_id}|{start}", "reason": REASON}


def _confirm_form(w: Worlds, target: Target | None) -> dict:
    device_id, start = _slot(w, target)  # at the request's own hub (see _request_form)
    return {"device_id": device_id, "start_at": start, "reason": REASON}


def _change_form(w: Worlds, target: Target | None) -> dict:
    world = w[target.world] if target is not None and target.world else w["KM"]
    return {"change-procedure_id": world.procedure_id, "change-priority": "URGENT"}


def _template_form(w: Worlds, target: Target | None) -> dict:
    return {
        "name": "ทดสอบ",
        "slot_minutes": "",
        "lead_time_minutes": "60",
        "horizon_days": "90",
        "is_active": "y",
        "windows-0-weekday": "0",
        "windows-0-start": "08:30",
        "windows-0-end": "12:00",
        "windows-0-capacity": "1",
    }


def _quota_form(w: Worlds, target: Target | None) -> dict:
    return {"slots": "3", "release_hours": "24", "is_active": "y"}


def _quota_new_form(w: Worlds, target: Target | None) -> dict:
    device = target.value if target is not None else w.devices[MKH]
    return {
        "referring_hospital_id": w.hospitals["11008"],
        "device_id": device,
        "modality_code": "",
        "weekday": "",
        "slots": "1",
        "release_hours": "24",
    }


def _closure_form(w: Worlds, target: Target | None) -> dict:
    device = target.value if target is not None else w.devices[MKH]
    return {
        "kind": "DEVICE_DOWNTIME",
        "device_id": device,
        "day": (w.day + timedelta(days=45)).isoformat(),
        "days": "1",
        "name_th": "ซ่อม",
    }


def _identity_form(w: Worlds, target: Target | None) -> dict:
    world = w[target.world] if target is not None and target.world else w["KM"]
    return {"identity-source": str(world.patient_id), "identity-hn": "MKTEST1"}


def _reason(w: Worlds, target: Target | None) -> dict:
    return {"reason": REASON}


def _reject(w: Worlds, target: Target | None) -> dict:
    return {"reject-reason": REASON}


def _prior_form(w: Worlds, target: Target | None) -> dict:
    return {"modality_code": "US", "sent_on_cd": "y", "description": "ทดสอบ"}


def _bad_login(w: Worlds, target: Target | None) -> dict:
    return {"username": "nobody", "password": "wrong"}


def _screening_form(w: Worlds, target: Target | None) -> dict:
    return {"treatment_right": "UC", "referral_number": "REF-MATRIX"}


def _vet_form(w: Worlds, target: Target | None) -> dict:
    return {"protocol_id": str(w.protocols[MKH]), "contrast": "no", "priority": "ROUTINE"}


PUBLIC = "public"
TOKEN = "token"

# Every rule of the app, by its URL rule. Parameters are filled by kind (PARAM_KINDS),
# unless the route names its own in ``params``.
ROUTES: dict[str, Route] = {
    # -- public -------------------------------------------------------------------------
    "/login": Route(PUBLIC, form=_bad_login, why="the login page"),
    "/healthz": Route(PUBLIC, why="liveness probe: 'ok', no data"),
    "/language/<lang>": Route(PUBLIC, why="remembers th/en in the session"),
    "/line/webhook": Route(
        PUBLIC, why="LINE's signature is the authentication (test_line_access.py)"
    ),
    "/fhir/metadata": Route(PUBLIC, why="the FHIR CapabilityStatement is public"),
    # -- FHIR: bearer token only (test_fhir_access.py) ----------------------------------
    "/fhir/": Route(TOKEN),
    "/fhir/<path:rest>": Route(TOKEN),
    "/fhir/<resource_type>": Route(TOKEN),
    "/fhir/<resource_type>/<id_>": Route(TOKEN),
    "/fhir/<resource_type>/_search": Route(TOKEN),
    # -- everyone logged in ---------------------------------------------------------------
    "/": Route(),
    "/logout": Route(),
    "/account/password": Route(),
    "/help/": Route(),
    "/help/<slug>": Route(),
    "/requests": Route(queries=_request_filters),
    "/requests/<int:request_id>": Route(),
    # -- requesters ---------------------------------------------------------------------
    "/requests/new": Route(posts=_patient_searches),
    "/requests/patients/new": Route(form=_patient_form),
    "/requests/patients/<int:patient_id>/edit": Route(form=_patient_form),
    "/requests/patients/<int:patient_id>/request": Route(form=_request_form),
    "/requests/<int:request_id>/slots": Route(),
    "/requests/<int:request_id>/reschedule": Route(),
    "/requests/<int:request_id>/confirm": Route(queries=_confirm_query, form=_confirm_form),
    "/requests/<int:request_id>/cancel": Route(form=_reason),
    "/requests/<int:request_id>/screening": Route(form=_screening_form),
    "/requests/<int:request_id>/attachments": Route(form=lambda w, t: {"kind": "OTHER"}),
    "/requests/<int:request_id>/attachments/<int:attachment_id>": Route(
        why="a file: only the two hospitals of the request, not even an admin"
    ),
    "/notifications": Route(),
    "/notifications/read": Route(),
    "/notifications/<int:notification_id>": Route(),
    "/requests/appointments/<int:appointment_id>/slip": Route(
        queries=lambda w: [{}, {"paper": "a4"}]
    ),
    "/requests/<int:request_id>/prior-images": Route(form=_prior_form),
    "/requests/<int:request_id>/prior-images/pick": Route(),
    "/prior-images/<int:prior_id>/cd": Route(form=lambda w, t: {"on_cd": "1"}),
    "/prior-images/<int:prior_id>/remove": Route(),
    "/prior-images/<int:prior_id>/confirm": Route(),
    "/prior-images/<int:prior_id>/reject": Route(),
    # -- hub ----------------------------------------------------------------------------
    "/hub/day": Route(queries=_hub_queries),
    "/hub/week": Route(queries=_hub_queries),
    "/hub/exams": Route(queries=_hub_queries),
    "/hub/exams/<int:appointment_id>": Route(),
    "/hub/inbox": Route(queries=_hub_tabs),
    "/hub/line-replies/<int:reply_id>/handled": Route(),
    "/hub/requests/<int:request_id>": Route(),
    "/hub/requests/<int:request_id>/accept": Route(),
    "/hub/requests/<int:request_id>/reject": Route(form=_reject),
    "/hub/requests/<int:request_id>/change": Route(form=_change_form),
    "/hub/requests/<int:request_id>/book": Route(form=_move_form),
    "/hub/requests/<int:request_id>/identity": Route(form=_identity_form),
    "/hub/vetting": Route(),
    "/hub/vetting/<int:request_id>": Route(form=_vet_form),
    "/hub/vetting/<int:request_id>/decline": Route(form=lambda w, t: {"decline-reason": REASON}),
    "/hub/protocols": Route(
        form=lambda w, t: {"modality_code": "CT", "code": "MTXNEW", "name_th": "ทดสอบ"}
    ),
    "/hub/protocols/<int:protocol_id>/active": Route(form=lambda w, t: {"active": "0"}),
    "/hub/vetting-rules/<int:procedure_id>": Route(
        form=lambda w, t: {"needed": "1"}, params={"procedure_id": "vetting_procedure"}
    ),
    "/hub/reconciliation": Route(),
    "/hub/reconciliation/<int:reconciliation_id>/confirm": Route(),
    "/hub/reconciliation/<int:reconciliation_id>/reject": Route(),
    "/hub/appointments/<int:appointment_id>/arrive": Route(),
    "/hub/appointments/<int:appointment_id>/no-show": Route(),
    "/hub/appointments/<int:appointment_id>/complete": Route(),
    "/hub/appointments/<int:appointment_id>/cancel": Route(form=_reason),
    "/hub/appointments/<int:appointment_id>/move": Route(form=_move_form),
    "/hub/capacity": Route(queries=_with_hubs),
    "/hub/capacity/devices/<int:device_id>/templates/new": Route(form=_template_form),
    "/hub/capacity/templates/<int:template_id>": Route(form=_template_form),
    "/hub/capacity/quotas/new": Route(form=_quota_new_form, form_target="device"),
    "/hub/capacity/quotas/<int:quota_id>": Route(form=_quota_form),
    "/hub/capacity/closures/new": Route(form=_closure_form, form_target="device"),
    "/hub/capacity/closures/<int:closure_id>/toggle": Route(),
    "/hub/capacity/closures/<int:closure_id>": Route(),
    "/hub/capacity/templates.xlsx": Route(queries=_with_hubs),
    "/hub/capacity/templates/import": Route(),
    "/hub/appointments/<int:appointment_id>/no-show/undo": Route(),
    "/hub/appointments/<int:appointment_id>/slip": Route(),
    "/hub/calls": Route(queries=_hub_queries),
    "/hub/day.xlsx": Route(queries=_hub_queries),
    "/hub/week.xlsx": Route(queries=_hub_queries),
    "/hub/day/print": Route(queries=_hub_queries),
    "/hub/day/extra": Route(queries=_device_queries),
    "/hub/day/gap": Route(queries=_device_queries),
    "/hub/waitlist": Route(queries=_with_hubs),
    "/hub/waitlist/offers": Route(queries=_device_queries),
    "/hub/requests/<int:request_id>/waitlist": Route(),
    "/hub/waitlist/<int:entry_id>/book": Route(
        params={"entry_id": "waitlist"}, form=_waitlist_booking
    ),
    "/hub/waitlist/<int:entry_id>/remove": Route(params={"entry_id": "waitlist"}),
    "/dashboard/": Route(queries=_with_hubs),
    "/dashboard/<metric>.csv": Route(queries=_with_hubs),
    # -- region office (aggregates; tests/app/test_region_office.py) ------------------------
    "/region/": Route(queries=lambda w: [{}, {"region": 8, "period": "past12"}]),
    "/region/export.xlsx": Route(queries=lambda w: [{"region": 7}]),
    "/region/targets": Route(form=lambda w, t: {"modality_code": "CT", "target_days": "9"}),
    # -- admin --------------------------------------------------------------------------
    "/admin/": Route(),
    "/admin/audit": Route(),
    "/admin/audit.csv": Route(),
    "/admin/privacy/export": Route(form=lambda w, t: {"identifier": w["SM"].patient_cid}),
    "/admin/hospitals": Route(),
    "/admin/hospitals/new": Route(),
    "/admin/hospitals/<int:hospital_id>": Route(),
    "/admin/devices": Route(),
    "/admin/devices/new": Route(),
    "/admin/devices/<int:device_id>": Route(),
    "/admin/procedures": Route(),
    "/admin/procedures/new": Route(),
    "/admin/procedures/<int:procedure_id>": Route(),
    "/admin/users": Route(),
    "/admin/users/new": Route(),
    "/admin/users/<int:user_id>": Route(),
    "/admin/interfaces": Route(),
    "/admin/hospital-pacs": Route(),
    "/admin/hospital-pacs/<int:hospital_id>/remove": Route(),
    "/admin/interfaces/api-clients/new": Route(),
    "/admin/interfaces/api-clients/<int:client_id>": Route(),
    "/admin/interfaces/api-clients/<int:client_id>/rotate": Route(),
    "/admin/interfaces/api-clients/<int:client_id>/revoke": Route(),
    "/admin/interfaces/hl7-senders/new": Route(),
    "/admin/interfaces/hl7-senders/<int:sender_id>": Route(),
    "/admin/interfaces/hl7-senders/<int:sender_id>/remove": Route(),
    "/admin/hl7/destinations": Route(),
    "/admin/hl7/destinations/<int:destination_id>/toggle": Route(),
    "/admin/hl7/journal": Route(),
    "/admin/hl7/journal/<int:entry_id>": Route(),
    "/admin/hl7/outbox": Route(),
    "/admin/hl7/outbox/<int:row_id>": Route(params={"row_id": "hl7_outbox"}),
    "/admin/hl7/outbox/<int:row_id>/retry": Route(params={"row_id": "hl7_outbox"}),
    "/line/outbox": Route(),
    "/line/staff-groups": Route(
        form=lambda w, t: {"hospital_id": str(w.hospitals["11008"]), "group_id": "C" + "d4" * 16}
    ),
    "/line/outbox/<int:row_id>/requeue": Route(params={"row_id": "line_outbox"}),
}
# Rules left out of the matrix, and why.
EXCLUDED = {
    "/static/<path:filename>": "Flask's static files (CSS, JS, fonts): no data, no database",
}
PARAM_KINDS = {
    "request_id": "request",
    "appointment_id": "appointment",
    "patient_id": "patient",
    "reply_id": "reply",
    "reconciliation_id": "reconciliation",
    "prior_id": "prior",
    "device_id": "device",
    "template_id": "template",
    "quota_id": "quota",
    "closure_id": "closure",
    "hospital_id": "hospital",
    "user_id": "user",
    "procedure_id": "procedure",
    "destination_id": "destination",
    "entry_id": "journal",
    "client_id": "api_client",
    "sender_id": "hl7_sender",
    "metric": "metric",
    "slug": "slug",
    "lang": "lang",
    "resource_type": "resource_type",
    "id_": "fhir_id",
    "rest": "fhir_rest",
    "attachment_id": "attachment",
    "notification_id": "notification",
    "protocol_id": "protocol",
}
# Whose staff each user is (notifications are read per hospital).
HOSPITAL_OF = {"staff.kudrang": "11008", "staff.kosum": "11005", "admin": MKH, **HUB_OF}


def path_arguments(rule) -> list[str]:
    """The parameters in the rule's path (``rule.arguments`` also has its defaults')."""
    return sorted(rule.arguments - set(rule.defaults or {}))


def rules(app) -> list:
    return [r for r in app.url_map.iter_rules() if r.rule not in EXCLUDED]


def test_every_rule_is_classified(app):
    """A new route must be put in ROUTES (or EXCLUDED, with a reason) to pass."""
    rule_strings = [r.rule for r in app.url_map.iter_rules()]
    unclassified = sorted(set(rule_strings) - set(ROUTES) - set(EXCLUDED))
    assert not unclassified, f"add these rules to ROUTES in {__name__}: {unclassified}"
    stale = sorted(set(ROUTES) - set(rule_strings))
    assert not stale, f"ROUTES names rules the app no longer has: {stale}"
    for rule in app.url_map.iter_rules():
        if rule.rule in EXCLUDED:
            continue
        for arg in path_arguments(rule):
            kind = ROUTES[rule.rule].params.get(arg) or PARAM_KINDS.get(arg)
            assert kind is not None, f"{rule.rule}: no filler for the parameter {arg!r}"
    assert set(EXCLUDED) == {"/static/<path:filename>"}, "say why in EXCLUDED, keep it short"


# -- targets ----------------------------------------------------------------------------


def _admin_only(username: str) -> bool:
    return username == "admin"


def _always(username: str) -> bool:
    return username != "anonymous"


def targets(w: Worlds, kind: str) -> list[Target]:
    """Every value the matrix puts in a parameter of this kind, and who may see it."""

    def world_target(name: str, value: int, label: str) -> Target:
        return Target(
            f"{name} {label}",
            value,
            lambda u, n=name: w.visible(u, n),
            hub=MKH if w[name].hub_id == w.hospitals[MKH] else UDN,
            world=name,
        )

    def hub_target(code: str, value: int, label: str) -> Target:
        return Target(
            f"{code} {label}", value, lambda u, c=code: u == "admin" or HUB_OF.get(u) == c, hub=code
        )

    if kind == "request":
        return [world_target(n, x.request_id, "request") for n, x in w.worlds.items()] + [
            world_target(n, x.open_request_id, "open request") for n, x in w.worlds.items()
        ]
    if kind == "appointment":
        return [world_target(n, x.appointment_id, "appointment") for n, x in w.worlds.items()] + [
            world_target(n, x.moved_appointment_id, "moved-away appointment")
            for n, x in w.worlds.items()
            if x.moved_appointment_id is not None
        ]
    if kind == "patient":
        by_patient: dict[int, list[str]] = {}
        for n, x in w.worlds.items():
            by_patient.setdefault(x.patient_id, []).append(n)
        return [
            Target(
                f"{'+'.join(names)} patient",
                pid,
                lambda u, names=tuple(names): any(w.visible(u, n) for n in names),
                world=names[0],
            )
            for pid, names in by_patient.items()
        ]

    def hub_only(attr: str, label: str) -> list[Target]:
        """Each world's object that only its hub's staff (and the admin) may see."""
        return [
            Target(
                f"{n} {label}",
                getattr(x, attr),
                lambda u, n=n: u == "admin" or HUB_OF.get(u) == _hub_code(w, n),
                hub=_hub_code(w, n),
                world=n,
            )
            for n, x in w.worlds.items()
        ]

    if kind == "reply":
        # A patient's LINE answer is for the hub's staff only.
        return hub_only("reply_id", "LINE reply")
    if kind == "waitlist":
        # The waiting list is the hub's.
        return hub_only("waitlist_id", "waiting-list entry")
    if kind == "reconciliation":
        # A held study is the performing hub's to decide.
        return hub_only("reconciliation_id", "held study")
    if kind == "prior":
        # A referral study: seen by both parties of its request (the open one).
        return [world_target(n, x.prior_id, "referral study") for n, x in w.worlds.items()]
    if kind == "attachment":
        # Only the two hospitals of the request: VISIBLE_TO without the admin.
        return [
            Target(f"{n} file", x.attachment_id, lambda u, n=n: u in VISIBLE_TO[n], world=n)
            for n, x in w.worlds.items()
        ]
    if kind == "notification":
        return [
            Target(f"notification {i}", i, lambda u, c=code: HOSPITAL_OF.get(u) == c)
            for i, code in w.notifications.items()
        ]
    if kind == "protocol":
        return [hub_target(code, value, "protocol") for code, value in w.protocols.items()]
    if kind == "vetting_procedure":
        # A hub's vetting rule for a catalogue procedure: that hub's staff (the radiologist).
        return [Target("procedure", w["KM"].procedure_id, lambda u: u == "admin" or u in HUB_OF)]
    if kind in ("device", "template", "quota", "closure"):
        table = {
            "device": w.devices,
            "template": w.templates,
            "quota": w.quotas,
            "closure": w.closures,
        }[kind]
        return [hub_target(code, value, kind) for code, value in table.items()]
    if kind in (
        "hospital",
        "user",
        "procedure",
        "destination",
        "journal",
        "hl7_outbox",
        "line_outbox",
        "api_client",
        "hl7_sender",
    ):
        value = {
            "hospital": w.hospitals["11005"],
            "user": w.users["staff.kosum"],
            "procedure": w["KM"].procedure_id,
            "destination": w.admin_rows["destination"],
            "journal": w.admin_rows["journal"],
            "hl7_outbox": w.admin_rows["outbox"],
            "line_outbox": w.admin_rows["line_outbox"],
            "api_client": w.admin_rows["api_client"],
            "hl7_sender": w.admin_rows["hl7_sender"],
        }[kind]
        return [Target(kind, value, _admin_only)]
    values = {
        "metric": ["capacity", "waiting", "no-shows", "quotas"],
        "slug": ["requester", "scheduler", "radiologist", "admin", "region"],
        "lang": ["th", "en"],
        "resource_type": ["Patient"],
        "fhir_id": [str(w["SM"].patient_id)],
        "fhir_rest": ["Patient/x/_history"],
    }[kind]
    return [Target(kind, v, _always) for v in values]


def _text_of(response) -> str:
    """The body as text; a spreadsheet's cells (the hub's .xlsx lists)."""
    if response.mimetype.endswith("spreadsheetml.sheet"):
        from io import BytesIO

        from openpyxl import load_workbook

        book = load_workbook(BytesIO(response.data), read_only=True)
        return "\n".join(
            str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v
        )
    return response.get_data().decode("utf-8", "replace")


def _hub_code(w: Worlds, name: str) -> str:
    return MKH if w[name].hub_id == w.hospitals[MKH] else UDN


def _missing(kind: str) -> Target | None:
    if kind in ("metric", "slug", "lang", "resource_type", "fhir_id", "fhir_rest"):
        return None
    return Target("missing", MISSING_ID, lambda u: False)


# -- the matrix -------------------------------------------------------------------------


@dataclass
class Tally:
    tried: int = 0
    failures: list[str] = field(default_factory=list)
    own_ok: dict[str, int] = field(default_factory=dict)  # rule -> visible targets served

    def fail(self, actor: str, method: str, url: str, what: str) -> None:
        self.failures.append(f"{actor} {method} {url}: {what}")


def _strip_echo(body: str, sent: dict) -> str:
    """The values the actor sent may come back (a search box, a redirect): not a leak."""
    for value in sent.values():
        value = str(value)
        if len(value) >= 4:
            body = body.replace(value, "")
    return body


def _leaks(body: str, hidden: dict[str, list[str]]) -> list[str]:
    return [
        f"{world}:{marker}"
        for world, markers in hidden.items()
        for marker in markers
        if marker in body
    ]


def _client(app, actor: str):
    client = app.test_client()
    if actor != "anonymous":
        response = login(client, actor)
        assert response.status_code == 302, f"{actor} could not log in"
    return client


def _url(rule, values: dict) -> str:
    # Built from the rule itself: url_for may pick a sibling rule of the same endpoint.
    return rule.build({k: str(v) for k, v in values.items()}, append_unknown=False)[1]


def run_actor(app, w: Worlds, actor: str, tally: Tally) -> None:
    client = _client(app, actor)
    hidden = (
        w.hidden_markers(actor)
        if actor != "anonymous"
        else {n: x.markers for n, x in w.worlds.items()}
    )
    state = {"fp": None}

    def db_state() -> str:
        if state["fp"] is None:
            state["fp"] = fingerprint()
        return state["fp"]

    with WriteWatch() as watch:
        _run_rules(app, w, actor, tally, client, hidden, state, db_state, watch)


def _run_rules(app, w, actor, tally, client, hidden, state, db_state, watch) -> None:
    ordered = sorted(rules(app), key=lambda r: (r.rule == "/logout", r.rule))
    for rule in ordered:
        spec = ROUTES[rule.rule]
        methods = sorted(m for m in rule.methods if m in ("GET", "POST"))
        if spec.access == TOKEN:
            methods = ["GET", "POST"]
        if rule.rule == "/login" and actor != "anonymous":
            # One failed login (anonymous's) is enough; more would trip login throttling.
            methods = ["GET"]
        kinds = {arg: spec.params.get(arg) or PARAM_KINDS[arg] for arg in path_arguments(rule)}
        per_arg = []
        for arg, kind in kinds.items():
            options = targets(w, kind)
            if (missing := _missing(kind)) is not None:
                options.append(missing)
            per_arg.append([(arg, t) for t in options])
        combos = [dict(c) for c in itertools.product(*per_arg)] if per_arg else [{}]
        for method in methods:
            missing_status: int | None = None
            # The missing id first: other hospitals' objects must be answered the same.
            combos.sort(key=lambda c: not any(t.missing for t in c.values()))
            for combo in combos:
                object_targets = [t for arg, t in combo.items() if _missing(kinds[arg]) is not None]
                url = _url(rule, {arg: t.value for arg, t in combo.items()})
                form_targets: list[Target | None] = [None]
                if method == "POST" and spec.form_target:
                    form_targets = [_missing(spec.form_target), *targets(w, spec.form_target)]
                query_sets = (
                    (spec.queries(w) if spec.queries else [{}]) if method == "GET" else [{}]
                )
                bodies = spec.posts(w) if method == "POST" and spec.posts else [None]
                for form_target, query, body in itertools.product(form_targets, query_sets, bodies):
                    target = object_targets[0] if object_targets else form_target
                    data = body or {}
                    if method == "POST" and spec.form is not None:
                        data = spec.form(w, target)
                    full = url + ("?" + urlencode(query) if query else "")
                    visible = target is None or (actor != "anonymous" and target.visible_to(actor))
                    # (a public route may write, e.g. the login throttle's counter)
                    check_write = (
                        method == "POST"
                        and spec.access != PUBLIC
                        and (not visible or actor == "anonymous")
                    )
                    before = db_state() if check_write else None
                    writes_before = watch.writes
                    if spec.access == TOKEN:
                        response = client.open(
                            full, method=method, headers={"Accept": "application/fhir+json"}
                        )
                    elif method == "POST":
                        response = client.post(full, data=data)
                    else:
                        response = client.get(full)
                    tally.tried += 1
                    status = response.status_code
                    # (an .xlsx is read cell by cell; other bytes as far as they decode)
                    text = _text_of(response)
                    body = _strip_echo(text, {**query, **data})
                    location = response.headers.get("Location", "")
                    if status >= 500:
                        tally.fail(actor, method, full, f"server error {status}")
                    for leak in _leaks(body + _strip_echo(location, {**query, **data}), hidden):
                        tally.fail(actor, method, full, f"shows {leak} ({status})")
                    if spec.access == TOKEN:
                        if status != 401:
                            tally.fail(
                                actor,
                                method,
                                full,
                                f"FHIR without a token answered {status}, not 401",
                            )
                    elif (
                        actor == "anonymous"
                        and spec.access != PUBLIC
                        and not (status == 302 and "/login" in location)
                    ):
                        tally.fail(
                            actor, method, full, f"anonymous got {status}, not a redirect to /login"
                        )
                    if target is not None and target.missing:
                        missing_status = status
                    elif target is not None and not visible and actor != "anonymous":
                        if status not in (403, 404) and target is not form_target:
                            tally.fail(
                                actor,
                                method,
                                full,
                                f"{target.label} answered {status}, not 404/403",
                            )
                        elif missing_status is not None and status != missing_status:
                            tally.fail(
                                actor,
                                method,
                                full,
                                f"{target.label} answered {status} but a missing "
                                f"one {missing_status}: confirms it exists",
                            )
                    elif target is not None and visible and status < 400:
                        key = f"{method} {rule.rule}"
                        tally.own_ok[key] = tally.own_ok.get(key, 0) + 1
                    wrote = watch.writes != writes_before
                    if check_write and wrote:
                        after = fingerprint()
                        if after != before:
                            what = target.label if target is not None else "no object"
                            tally.fail(actor, method, full, f"changed the database ({what})")
                        state["fp"] = after
                    elif wrote:
                        state["fp"] = None


def test_exam_page_history_shows_only_requests_the_user_may_see(app, worlds):
    """Leak found by this module: the radiologist's exam page listed every other
    appointment of the patient, including those another hospital booked at another hub."""
    history = "Prior exams of this patient"
    km, ku = worlds["KM"], worlds["KU"]  # one patient, sent to MKH and to UDN
    for username, shown in (("radiologist.mkh", False), ("admin", True)):
        client = _client(app, username)
        client.post("/language/en")
        body = client.get(f"/hub/exams/{km.appointment_id}").get_data(as_text=True)
        client.post("/language/th")
        assert (history in body) is shown, username
    # and the other hub's own page does show its appointment
    client = _client(app, "radiologist.udn")
    assert client.get(f"/hub/exams/{ku.appointment_id}").status_code == 200
    assert client.get(f"/hub/exams/{km.appointment_id}").status_code == 404


def test_web_access_matrix(app, worlds, request):
    tally = Tally()
    for actor in ACTORS:
        run_actor(app, worlds, actor, tally)
    FIGURES["web"] += tally.tried
    rule_count = len(rules(app))
    report(
        request,
        "web",
        f"{rule_count} rules × {len(ACTORS)} actors (anonymous + 8 users "
        f"at 6 hospitals) × own/other/missing objects = {tally.tried} requests; "
        f"{len(tally.failures)} failures",
    )
    assert not tally.failures, "\n".join(tally.failures[:60])
    # The matrix must have exercised the routes for real, not met 404s everywhere.
    scoped = {
        f"{m} {r.rule}"
        for r in rules(app)
        for m in r.methods
        if m in ("GET", "POST")
        and any(_missing(ROUTES[r.rule].params.get(a) or PARAM_KINDS[a]) for a in path_arguments(r))
    }
    never_served = sorted(k for k in scoped if not tally.own_ok.get(k))
    assert not never_served, f"no actor was served these on their own objects: {never_served}"
