"""Web fuzz: every POST form route with random values, every GET route with odd queries.

Routes come from ``app.url_map``. Each role (admin, hub scheduler, radiologist,
community-hospital staff) posts from its own logged-in client; CSRF is off in
TestConfig. Never a 500 (the test app re-raises exceptions, so a crash fails the
example with its traceback), and the error messages a form shows are Thai.
``RADBOOK_FUZZ_EXAMPLES`` scales the POST run.
"""

from __future__ import annotations

import html
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from app.extensions import db
from scheduling.models import Hospital, ImagingRequest, User
from tests.conftest import login

EXAMPLES = int(os.environ.get("RADBOOK_FUZZ_EXAMPLES", "120")) * 2
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not os.environ.get("RADBOOK_FUZZ_EXPLORE"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

USERS = ["admin", "scheduler.mkh", "radiologist.mkh", "staff.kudrang"]
SKIP = {"static", "main.set_language", "auth.logout", "line.webhook"}  # webhook: LINE tests
ODD = [
    "",
    " ",
    "-1",
    "0",
    "1",
    "99999999999999999999",
    "1e309",
    "NaN",
    "2026-02-30",
    "2026-11-21",
    "31/12/2569",
    "๒๕๖๙",
    "25:61",
    "09:00",
    "\x00",
    "ก" * 5000,
    "x" * 300,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "😀",
    "\u202e",
    "true",
    "on",
    "US",
    "MKH_US1",
    "1101700230705",
    "1101700230704",
    "11008",
    "10707",
    "admin",
    "th",
    "en",
]
values = st.sampled_from(ODD) | st.text(max_size=40) | st.integers(-(2**70), 2**70).map(str)
NAME = re.compile(r'<(?:input|select|textarea)[^>]*\sname="([^"]+)"', re.I)
ERRORS = re.compile(
    r'<(small|p|dd) class="error"[^>]*>(.*?)</\1>|class="flash flash-error"[^>]*>(.*?)</(?:p|div)>',
    re.S,
)
THAI = re.compile("[\u0e00-\u0e7f]")


def _clients(app) -> dict[str, object]:
    clients = {}
    for username in USERS:
        client = app.test_client()
        assert login(client, username).status_code == 302, username
        clients[username] = client
    return clients


def _form_fields() -> set[str]:
    """Every field name of every form class (for routes with no page to read them from)."""
    from wtforms import Form
    from wtforms.fields.core import UnboundField

    names: set[str] = set()
    pending = list(Form.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for base in cls.__mro__:
            names.update(k for k, v in vars(base).items() if isinstance(v, UnboundField))
    return names - {"csrf_token"}


def _path(rule, draw, protected: set[int]) -> str:
    args = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        if converter is None:
            continue  # a default, not part of the path
        if isinstance(converter, IntegerConverter):
            candidates = st.integers(1, 40) | st.sampled_from([0, 2**31, 2**63, 10**30])
            if name == "user_id":
                candidates = candidates.filter(lambda n: n not in protected)
            args[name] = draw(candidates)
        else:
            args[name] = draw(
                st.sampled_from(["x", "US", "requests", "อัลตราซาวด์", "..", "a" * 200])
            )
    return rule.rule if not args else _build(rule, args)


def _build(rule, args: dict) -> str:
    path = rule.rule
    for name, value in args.items():
        path = re.sub(r"<(?:[a-z]+:)?" + name + r">", str(value), path)
    return path


def _error_texts(page: str) -> list[str]:
    found = []
    for match in ERRORS.finditer(page):
        text = match.group(2) if match.group(2) is not None else match.group(3)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text or "")).strip()
        if text:
            found.append(text)
    return found


def test_post_every_form_route_with_random_values(app, demo_bookings):
    rules = [
        r
        for r in app.url_map.iter_rules()
        if "POST" in r.methods and r.endpoint not in SKIP and not r.rule.startswith("/fhir")
    ]
    clients = _clients(app)
    protected = set(db.session.scalars(select(User.id).where(User.username.in_(USERS))))
    fallback = sorted(_form_fields())
    # The fields each role sees on each form page, read once before the fuzz (hypothesis
    # needs the same draws for the same choices).
    page_fields: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        for username in USERS:
            names: list[str] = []
            if "GET" in rule.methods:
                page = clients[username].get(_build(rule, {a: 1 for a in rule._converters}))
                if page.status_code == 200:
                    names = sorted(set(NAME.findall(page.get_data(as_text=True))))
            page_fields[(rule.endpoint, username)] = names or fallback
    counts = {"posts": 0, "errors shown": 0}
    statuses: dict[int, int] = {}

    @FUZZ
    @given(data=st.data())
    def post(data):
        rule = data.draw(st.sampled_from(sorted(rules, key=lambda r: r.rule)))
        username = data.draw(st.sampled_from(USERS))
        client = clients[username]
        path = _path(rule, data.draw, protected)
        names = page_fields[(rule.endpoint, username)]
        chosen = data.draw(
            st.lists(st.sampled_from(names), max_size=min(len(names), 12), unique=True)
        )
        form = {name: data.draw(st.lists(values, min_size=1, max_size=2)) for name in chosen}
        response = client.post(path, data=form, follow_redirects=True)
        counts["posts"] += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        what = f"{username} POST {path} {form!r}"[:2000]
        assert response.status_code < 500, what
        if response.mimetype == "text/html":
            errors = _error_texts(response.get_data(as_text=True))
            counts["errors shown"] += bool(errors)
            untranslated = [e for e in errors if not THAI.search(e)]
            assert untranslated == [], f"{what}: errors not in Thai: {untranslated}"

    post()
    print(
        f"\nweb fuzz: {counts['posts']} POSTs over {len(rules)} form routes and "
        f"{len(USERS)} roles; statuses {dict(sorted(statuses.items()))}; "
        f"{counts['errors shown']} pages showed errors (all Thai)"
    )
    assert counts["errors shown"] > 0  # the fuzz does reach the validation


ODD_QUERIES = [
    {
        "page": "-1",
        "date": "9999-99-99",
        "day": "2026-02-30",
        "week": "2026-W99",
        "q": "%_\\\\",
        "status": "NOPE",
        "sort": "'",
        "hospital": "x",
        "hospital_id": "-5",
        "device": "abc",
        "device_id": "99999999999999999999",
        "limit": "99999999999999999999",
        "offset": "-3",
        "start": "25:00",
        "end": "x",
        "from": "0000-00-00",
        "to": "๒๕๖๙-๐๑-๐๑",
        "modality": "ZZ",
        "procedure": "ก" * 300,
        "metric": "x",
        "next": "//evil.example",
        "interface": "x",
        "outcome": "XX",
        "action": "x" * 1000,
        "format": "xml",
    },
    {
        "page": "99999999999999999999",
        "date": "2569-13-01",
        "day": "",
        "week": "",
        "q": "ก" * 2000,
        "status": "",
        "hospital_id": "1.5",
        "device_id": "0",
        "per_page": "0",
        "start": "2026-11-21",
        "end": "2026-11-20",
        "from": "2026-11-21T25:00",
        "to": "",
        "user": "'; --",
        "national_id": "1101700230704",
        "hn": "%",
        "lang": "xx",
    },
    # Dates at the ends of the calendar and numbers past any integer (issue 14: each
    # was a 500 on some page: date sums and the move to UTC overflowed).
    {
        "date": "0001-01-01",
        "date_from": "01/01/0001",
        "date_to": "9999-12-31",
        "entity_id": "9" * 30,
        "device_id": "1",
        "start_at": "9999-12-31T23:59:59-12:00",
    },
    {
        "date": "9999-12-31",
        "date_from": "0001-01-01",
        "date_to": "31/12/9999",
        "entity_id": "-" + "9" * 30,
        "device": "9" * 30,
        "device_id": "9" * 30,
        "start_at": "0001-01-01T00:00:00+07:00",
    },
]


def test_every_get_route_with_odd_query_parameters(app, demo_bookings):
    rules = [
        r
        for r in app.url_map.iter_rules()
        if "GET" in r.methods and r.endpoint != "static" and not r.rule.startswith("/fhir")
    ]
    clients = {"anonymous": app.test_client(), **_clients(app)}
    sent, statuses = 0, {}
    for rule in sorted(rules, key=lambda r: r.rule):
        for username, client in clients.items():
            for n, query in enumerate(ODD_QUERIES):
                args = {
                    name: (3 if n == 0 else 10**30)
                    if isinstance(rule._converters[name], IntegerConverter)
                    else "x%00"
                    for name in rule.arguments
                    if name in rule._converters
                }
                path = _build(rule, args)
                response = client.get(path, query_string=query)
                sent += 1
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code < 500, f"{username} GET {path} {query}"
    print(
        f"\nweb GET scan: {sent} requests ({len(rules)} routes x {len(clients)} roles x "
        f"{len(ODD_QUERIES)} odd queries); statuses {dict(sorted(statuses.items()))}"
    )


def test_an_id_beyond_the_database_integer_is_not_found(app, demo_bookings):
    """Found by the fuzz: /hub/exams/<2**63> was an OverflowError (SQLite) or "integer out
    of range" (PostgreSQL), a 500; the int converter now stops at the INTEGER maximum."""
    client = _clients(app)["scheduler.mkh"]
    assert client.get(f"/hub/exams/{2**31 - 1}").status_code == 404
    assert client.get(f"/hub/exams/{2**31}").status_code == 404
    assert client.get("/hub/exams/99999999999999999999").status_code == 404
    assert client.post(f"/hub/appointments/{2**63}/arrive").status_code == 404


def test_query_values_the_fuzz_broke_on(app, demo_bookings):
    """Found by the GET scan: ?metric= on the dashboard clashed with url_for's own argument;
    numbers beyond INTEGER in ?page=, ?hub=, ?device=, ?before= and the slot form's
    device id reached the database."""
    clients = _clients(app)
    huge = "99999999999999999999"
    assert clients["scheduler.mkh"].get("/dashboard/?metric=x").status_code == 200
    assert clients["scheduler.mkh"].get(f"/hub/day?device={huge}").status_code == 200
    assert clients["admin"].get(f"/hub/day?hub={huge}").status_code == 200
    assert clients["admin"].get(f"/admin/audit?page={huge}").status_code == 200
    assert clients["staff.kudrang"].get(f"/requests?before={huge}").status_code == 200
    assert clients["staff.kudrang"].get("/requests?before=²").status_code == 200
    request_id = db.session.scalar(
        select(ImagingRequest.id)
        .join(Hospital, Hospital.id == ImagingRequest.requesting_hospital_id)
        .where(Hospital.code == "11008")
        .limit(1)
    )
    response = clients["staff.kudrang"].get(
        f"/requests/{request_id}/confirm?device_id={huge}&start_at=2026-11-23T09:00"
    )
    assert response.status_code == 400


def test_a_nul_in_a_query_or_form_is_a_bad_request(app, demo_bookings):
    """Found by the GET scan on PostgreSQL: ?q=%00 on the HL7 journal reached an ILIKE,
    which PostgreSQL refuses for text with NUL (a 500); now 400 for any route."""
    clients = _clients(app)
    response = clients["admin"].get("/admin/hl7/journal?q=%00")
    assert response.status_code == 400
    assert THAI.search(response.get_data(as_text=True))
    assert (
        clients["staff.kudrang"]
        .post("/requests/patients/new", data={"given_name_th": "ก\x00"})
        .status_code
        == 400
    )
    fhir = clients["staff.kudrang"].get(
        "/fhir/Patient?name=%00", headers={"Authorization": "Bearer demo-his-token"}
    )
    assert fhir.status_code == 400 and fhir.get_json()["resourceType"] == "OperationOutcome"


def test_inputs_the_issue_14_review_found(app, demo_bookings):
    """Years 0001 and 9999 on the hub's day, week, exams, move and book pages, the
    requester's confirm page and the audit search; a huge entity_id; a 23-digit birth
    day on the patient form: each was a 500. Now the page answers, with a Thai error
    beside the field where a person typed it."""
    from scheduling.models import Appointment, Device, RequestStatus

    clients = _clients(app)
    scheduler, admin, staff = clients["scheduler.mkh"], clients["admin"], clients["staff.kudrang"]
    appointment = db.session.scalar(select(Appointment.id).limit(1))
    to_book = db.session.scalar(
        select(ImagingRequest.id)
        .join(Hospital, Hospital.id == ImagingRequest.hub_hospital_id)
        .where(
            Hospital.code == "10707",
            ImagingRequest.status.in_([RequestStatus.SUBMITTED, RequestStatus.ACCEPTED]),
        )
        .limit(1)
    )
    own = db.session.scalar(
        select(ImagingRequest.id)
        .join(Hospital, Hospital.id == ImagingRequest.requesting_hospital_id)
        .where(Hospital.code == "11008")
        .limit(1)
    )
    device = db.session.scalar(select(Device.id).where(Device.ae_title == "MKH_US1"))
    for day in ("0001-01-01", "9999-12-31", "01/01/0001", "31/12/9999", "1/1/2443"):
        for path in (
            "/hub/day",
            "/hub/week",
            "/hub/exams",
            f"/hub/appointments/{appointment}/move",
            f"/hub/requests/{to_book}/book",
        ):
            response = scheduler.get(path, query_string={"date": day})
            assert response.status_code == 200, f"{path}?date={day}"
        audit = admin.get("/admin/audit", query_string={"date_from": day, "date_to": day})
        assert audit.status_code == 200
        if day in ("0001-01-01", "9999-12-31"):
            assert "2443" in audit.get_data(as_text=True)  # "a date between 1/1/2443 and …"
    for start in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00"):
        response = staff.get(
            f"/requests/{own}/confirm", query_string={"device_id": device, "start_at": start}
        )
        assert response.status_code == 400
    huge = admin.get("/admin/audit", query_string={"entity_id": "9" * 30})
    assert huge.status_code == 200 and THAI.search(" ".join(_error_texts(huge.get_data(True))))
    form = staff.post(
        "/requests/patients/new",
        data={
            "id_type": "NATIONAL_ID",
            "id_value": "1101700230705",
            "given_name_th": "ทดสอบ",
            "birth_day": "99999999999999999999999",
            "birth_month": "1",
            "birth_year_be": "2500",
            "sex": "FEMALE",
        },
    )
    assert form.status_code == 200
    assert any(THAI.search(e) for e in _error_texts(form.get_data(as_text=True)))
