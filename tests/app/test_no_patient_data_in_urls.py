"""No patient data in URLs or logs (issue 8, part 2).

A national ID, name, HN or birth date in a query string ends up in browser history,
in proxy and server access logs and in Referer headers. The crawl below logs in as
every demo role, follows the links of the rendered pages, and fails on any
``href``/``src``/``action`` (all made with ``url_for``) or GET form that carries
one; it also checks the rendered markup stays within the Content-Security-Policy
(no inline script, ``on*`` handler or ``style`` attribute, including the SVG the
Python code draws).
"""

from __future__ import annotations

import logging
import re
import runpy
import threading
import urllib.request
from collections import deque
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.serving import make_server

from app.demo import DEMO_USERS
from app.security import PathOnlyRequestHandler
from scheduling.models import Patient, PatientHN
from scheduling.thaidate import thai_date
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[2]
# 13 digits, bare or in the 1-2345-67890-12-3 grouping staff type.
NATIONAL_ID_SHAPE = re.compile(r"(?<!\d)\d(?:[- ]?\d){12}(?!\d)")
PAGES_PER_ENDPOINT = 2
SKIP_PATHS = ("/logout", "/static/", "/language/", "/fhir", "/line/")


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.links: list[str] = []
        self.get_forms: list[dict] = []
        self.inline: list[str] = []
        self._form: dict | None = None
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction") and value:
                self.urls.append(value)
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}=…>")
            if name == "style":
                self.inline.append(f"<{tag} style=…>")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "script":
            if not a.get("src"):
                self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style> element")
        if tag == "form":
            self._form = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action"),
                "fields": [],
            }
            if self._form["method"] == "get":
                self.get_forms.append(self._form)
        if self._form is not None and tag in ("input", "select", "textarea") and a.get("name"):
            self._form["fields"].append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


@pytest.fixture
def kudrang_client(app, demo):
    client = app.test_client()
    assert login(client, "staff.kudrang").status_code == 302
    return client


def _patient_values(db) -> dict[str, set[str]]:
    patients = db.session.scalars(select(Patient)).all()
    hns = db.session.scalars(select(PatientHN.hn)).all()
    values = {
        "national ID": {p.id_value for p in patients},
        "HN": set(hns),
        "name": {
            n
            for p in patients
            for n in (p.given_name_th, p.family_name_th, p.given_name_en, p.family_name_en)
            if len(n) > 2
        },
        "birth date": {
            d
            for p in patients
            if p.birth_date
            for d in (p.birth_date.isoformat(), thai_date(p.birth_date))
        },
    }
    assert all(values.values()), "the demo should have patients with all of these"
    return values


def _problems_in_url(url: str, values: dict[str, set[str]]) -> list[str]:
    parts = urlsplit(url)
    problems = []
    query = unquote(parts.query)
    if NATIONAL_ID_SHAPE.search(unquote(parts.path)) or NATIONAL_ID_SHAPE.search(query):
        problems.append("national-ID-shaped number")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        for kind, known in values.items():
            if value in known or any(v in value for v in known if kind == "name"):
                problems.append(f"{kind} in ?{key}=")
    return problems


def _crawl(app, client, values, start: str = "/"):
    adapter = app.url_map.bind("localhost")
    seen_per_endpoint: dict[str, int] = {}
    visited: set[str] = set()
    queue = deque([start])
    report: list[str] = []
    pages = 0
    while queue:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc or parts.scheme or not parts.path.startswith("/"):
            continue
        if url in visited or parts.path.startswith(SKIP_PATHS):
            continue
        visited.add(url)
        try:
            endpoint, _args = adapter.match(parts.path, method="GET")
        except (NotFound, MethodNotAllowed):
            continue
        if seen_per_endpoint.get(endpoint, 0) >= PAGES_PER_ENDPOINT:
            continue
        seen_per_endpoint[endpoint] = seen_per_endpoint.get(endpoint, 0) + 1
        response = client.get(url)
        pages += 1
        if response.status_code in (301, 302, 303):
            location = response.headers["Location"]
            report += [
                f"{url}: redirect to {location} has a {p}"
                for p in _problems_in_url(location, values)
            ]
            queue.append(location)
            continue
        if response.mimetype != "text/html" or response.status_code != 200:
            continue
        markup = _Markup()
        markup.feed(response.get_data(as_text=True))
        for found in markup.urls:
            report += [f"{url}: {found} has a {p}" for p in _problems_in_url(found, values)]
        for form in markup.get_forms:
            for name, value in form["fields"]:
                report += [
                    f"{url}: GET form field {name}={value!r} has a {p}"
                    for p in _problems_in_url(f"/?{name}={value}", values)
                ]
        report += [f"{url}: {what}" for what in markup.inline]
        queue.extend(link.split("#")[0] for link in markup.links)
    return pages, seen_per_endpoint, report


def test_no_link_form_or_redirect_carries_patient_data(app, demo):
    from tests.app.requests.conftest import book_earliest, make_request

    booked = make_request(demo)
    book_earliest(demo, booked)
    make_request(demo, username="staff.kosum", patient="ประเสริฐ")
    demo.session.commit()
    values = _patient_values(demo)
    total_pages, endpoints, problems = 0, set(), []
    for username, *_rest in DEMO_USERS:
        client = app.test_client()
        assert login(client, username).status_code == 302
        pages, seen, report = _crawl(app, client, values)
        total_pages += pages
        endpoints |= set(seen)
        problems += [f"{username} {line}" for line in report]
    assert not problems, "\n".join(problems)
    # The crawl reached the places patients appear (a check that the check ran).
    for endpoint in (
        "main.request_list",
        "main.request_detail",
        "requests.new",
        "hub.inbox",
        "hub.day",
        "admin.audit",
    ):
        assert endpoint in endpoints, sorted(endpoints)
    assert total_pages > 40


def test_the_patient_search_is_a_post_and_its_answer_redirects_without_the_id(kudrang_client, demo):
    page = kudrang_client.get("/requests/new").get_data(as_text=True)
    markup = _Markup()
    markup.feed(page)
    assert not markup.get_forms  # the search box is in a POST form
    assert 'method="post" action="/requests/new"' in page
    somsri = demo.session.scalar(select(Patient).where(Patient.given_name_th == "สมศรี"))
    response = kudrang_client.post("/requests/new", data={"q": somsri.id_value})
    assert response.status_code == 302
    assert _problems_in_url(response.headers["Location"], _patient_values(demo)) == []
    # An old bookmark with the ID in the URL searches nothing.
    old = kudrang_client.get("/requests/new", query_string={"q": somsri.id_value})
    assert old.status_code == 200 and "ผู้ป่วยที่พบ" not in old.get_data(as_text=True)


def test_app_logs_carry_no_patient_data(app, kudrang_client, demo, caplog):
    values = _patient_values(demo)
    somsri = demo.session.scalar(select(Patient).where(Patient.given_name_th == "สมศรี"))
    caplog.set_level(logging.DEBUG)
    kudrang_client.post("/requests/new", data={"q": somsri.id_value})
    kudrang_client.post("/requests/new", data={"q": "สมศรี"})
    kudrang_client.post("/requests/new", data={"q": "1101700230705"})  # bad check digit
    kudrang_client.get("/requests")
    fhir = app.test_client()
    fhir.get(
        f"/fhir/Patient?identifier={somsri.id_value}",
        headers={"Authorization": "Bearer demo-his-token"},
    )
    # A database error logged with its traceback (as the HL7 listener and the error
    # handlers do) names the statement but not the values bound to it.
    twin = Patient(
        hospital_id=somsri.hospital_id,
        id_type=somsri.id_type,
        id_value=somsri.id_value,
        prefix=somsri.prefix,
        given_name_th=somsri.given_name_th,
    )
    demo.session.add(twin)
    try:
        demo.session.flush()
    except IntegrityError:
        logging.getLogger("app.test").exception("could not add a patient")
    demo.session.rollback()
    caplog.handler.flush()
    logged = "\n".join(caplog.handler.format(r) for r in caplog.records)
    assert "INSERT INTO patient" in logged  # the check below looked at a real error
    assert "parameters hidden" in logged
    for kind, known in values.items():
        for value in known:
            assert value not in logged, f"{kind} in the log"


def test_the_dev_server_access_log_has_no_query_string(app, caplog):
    server = make_server("127.0.0.1", 0, app, request_handler=PathOnlyRequestHandler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    url = f"http://127.0.0.1:{server.server_port}/login?q=1101700230708&name=%E0%B8%AA"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
    thread.join(timeout=30)
    server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /login HTTP/1.1" 200' in line for line in lines), lines
    assert not any("1101700230708" in line or "?" in line for line in lines)


def test_gunicorn_access_log_format_has_no_query_or_referer():
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config = Config()
    config.set("access_log_format", settings["access_log_format"])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/fhir/Patient?identifier=1101700230708",
        "PATH_INFO": "/fhir/Patient",
        "QUERY_STRING": "identifier=1101700230708",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_REFERER": "https://radbook.example/requests?q=1101700230708",
        "HTTP_USER_AGENT": "test",
    }
    response = SimpleNamespace(status="200 OK", response_length=10, sent=10, headers=[])
    request = SimpleNamespace(headers=[])
    atoms = Logger(config).atoms(response, request, environ, timedelta(milliseconds=12))
    line = config.access_log_format % atoms
    assert '"GET /fhir/Patient HTTP/1.1" 200' in line
    assert "1101700230708" not in line
