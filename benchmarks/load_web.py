"""Web load: simulated users against gunicorn and PostgreSQL for a fixed time.

    .venv/bin/python -m benchmarks.load_web                    # 50 users, 10 minutes
    .venv/bin/python -m benchmarks.load_web --duration 90      # a short run

The script makes its own database (default ``radbook_load``; dropped and created again
unless ``--keep-database``), runs ``flask db upgrade`` and ``flask demo load``, adds
load-test users (copies of the demo users: same password), starts gunicorn on
``wsgi:app`` with the repository's ``gunicorn.conf.py`` (the production settings), and
then runs the users, each a thread with its own ``requests.Session`` that does what
staff do, through the real pages and forms with their CSRF tokens:

- requesters (community-hospital staff) log in through the login form, look patients
  up by national ID or name, register new ones, send requests, open the slot page
  (earliest suggestions, sometimes one day of the calendar), confirm a slot, open the
  slip, browse their request list and request pages; now and then log out and in;
- schedulers (hub) open the inbox, open a request and accept it, and look at the day
  and week views;
- radiologists open the exam list of a day and an exam.

Each user waits a random think time between pages (``--think``, mean seconds). At the
end it prints p50/p95/p99 latency overall and per action, requests, errors (a status
other than 2xx/3xx, an exception, or a page that is not what the step expects; a slot
taken by someone else in the meantime is an expected outcome, counted apart), bookings
made, and the integrity checks counted with SQL: appointments overlapping on one device
beyond the capacity of the window, duplicate accession numbers and Study Instance UIDs,
requests holding more than one live appointment, and bookings the users saw confirmed
that the database does not hold. All of those must be zero.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_URL = os.environ.get("LOAD_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/radbook_load")
DEMO_PASSWORD = "radbook-demo"
HUB_CODE = "10707"  # Mahasarakham Hospital, the demo's hub with every modality
BANGKOK = ZoneInfo("Asia/Bangkok")

# Statuses that hold a device's time (the same set benchmarks/booking.py checks).
OCCUPYING = ("BOOKED", "ARRIVED", "IN_PROGRESS", "COMPLETED", "DISCONTINUED")
LIVE = ("BOOKED", "ARRIVED", "IN_PROGRESS")

CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE_RE = re.compile(r'value="([^"]*)"')
CONFIRM_RE = re.compile(r'href="(/requests/\d+/confirm\?[^"]+)"')
DAY_LINK_RE = re.compile(r'href="\?hub=(\d+)&amp;day=([0-9-]+)#day-slots"')
PATIENT_LINK_RE = re.compile(r'href="/requests/patients/(\d+)/request"')
REQUEST_LINK_RE = re.compile(r'href="/requests/(\d+)"')
HUB_REQUEST_RE = re.compile(r'href="/hub/requests/(\d+)"')
EXAM_RE = re.compile(r'href="/hub/exams/(\d+)"')
SECTIONS_RE = re.compile(r'<option value="(\d+)"[^>]*data-sections="([^"]*)"')
MRI_KEYS = ("mri_pacemaker", "mri_implant", "mri_metal", "mri_clip", "mri_claustrophobia")
OPTION_RE = re.compile(r'<option[^>]*value="(\d+)"')
SEARCH_FORM_RE = re.compile(r'<form method="(get|post)" action="/requests/new"')
FLASH_ERROR = 'class="flash flash-error"'

GIVEN = (
    "สมชาย",
    "สมหญิง",
    "บุญมี",
    "มาลัย",
    "ประเสริฐ",
    "วันเพ็ญ",
    "สุดารัตน์",
    "ทองใบ",
    "อำนวย",
    "จันทร์เพ็ญ",
    "สมปอง",
    "ละเอียด",
)
FAMILY = ("ใจดี", "ศรีสุข", "บุญมา", "แก้วมณี", "พลราช", "สายทอง", "ทองดี", "มูลมณี")
INDICATIONS = (
    "ปวดท้องด้านขวาบน",
    "ตรวจติดตามก้อนที่ตับ",
    "นิ่วในไต",
    "ก้อนที่คอ",
    "ปวดหลังร้าวลงขา",
    "ปวดศีรษะเรื้อรัง",
    "ตรวจคัดกรองตามนัด",
    "ไอเรื้อรัง",
)


def check_digit(first12: str) -> str:
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return str((11 - total % 11) % 10)


# --- what the users record -------------------------------------------------------------


@dataclass
class Stats:
    """Shared by every user thread; one lock, held only to append."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    outcomes: Counter = field(default_factory=Counter)
    booked_ids: list[int] = field(default_factory=list)

    def timing(self, action: str, seconds: float) -> None:
        with self.lock:
            self.timings[action].append(seconds)

    def error(self, description: str) -> None:
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 30:
                self.errors.append(description)

    def outcome(self, name: str, appointment_id: int | None = None) -> None:
        with self.lock:
            self.outcomes[name] += 1
            if appointment_id is not None:
                self.booked_ids.append(appointment_id)


class StepFailed(Exception):
    """A page was not what the step expected: counted as an error, the user starts over."""


@dataclass
class Plan:
    """What the users know before they start (ids read once from the database)."""

    base_url: str
    hub_id: int
    hub_procedures: list[int]  # procedures Mahasarakham's devices perform
    requesters: list[str]
    schedulers: list[str]
    radiologists: list[str]
    think: float
    seed: int


class User(threading.Thread):
    role = ""

    def __init__(
        self,
        index: int,
        username: str,
        plan: Plan,
        stats: Stats,
        stop: threading.Event,
        start_delay: float,
    ):
        super().__init__(name=f"user-{index}", daemon=True)
        self.index, self.username, self.plan, self.stats, self.stop = (
            index,
            username,
            plan,
            stats,
            stop,
        )
        self.start_delay = start_delay
        self.rng = random.Random(plan.seed * 1000 + index)
        self.session = requests.Session()
        self.session.headers["Accept-Language"] = "th"
        # A fresh connection per request, as nginx forwards them to gunicorn (HTTP/1.0 to
        # the upstream by default, docs/deploy.md). Reusing one would also race gunicorn's
        # 2-second keep-alive: a request sent as the server closes the idle connection.
        self.session.headers["Connection"] = "close"
        self.patients: list[tuple[int, str]] = []  # (patient id, HN) registered by this user
        self.slips: list[int] = []
        self.requests_made: list[int] = []
        self.seq = 0

    # -- HTTP with timing ------------------------------------------------------------------

    def call(self, action: str, method: str, path: str, *, expect=(200,), **kwargs):
        url = path if path.startswith("http") else self.plan.base_url + path
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, url, allow_redirects=False, timeout=120, **kwargs
            )
        except requests.RequestException as exc:
            self.stats.timing(action, time.perf_counter() - started)
            raise StepFailed(f"{action}: {type(exc).__name__}: {exc}") from exc
        self.stats.timing(action, time.perf_counter() - started)
        if not 200 <= response.status_code < 400:
            raise StepFailed(f"{action}: HTTP {response.status_code} {method} {_path(url)}")
        if response.status_code not in expect:
            raise StepFailed(
                f"{action}: HTTP {response.status_code} (expected {expect}) {method} {_path(url)}"
                f" -> {response.headers.get('Location', '')}"
            )
        return response

    def get(self, action: str, path: str, **kwargs):
        return self.call(action, "GET", path, **kwargs)

    def post(self, action: str, path: str, data: dict, **kwargs):
        return self.call(action, "POST", path, data=data, expect=(302, 303), **kwargs)

    def think(self) -> None:
        if self.plan.think > 0:
            self.stop.wait(self.rng.uniform(0.5, 1.5) * self.plan.think)

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        if self.stop.wait(self.start_delay):
            return
        logged_in = False
        while not self.stop.is_set():
            try:
                if not logged_in:
                    self.login()
                    logged_in = True
                    self.think()
                self.step()
                self.stats.outcome(f"steps done: {self.role}")
            except StepFailed as exc:
                self.stats.error(f"{self.username}: {exc}")
                logged_in = False  # start again from the login page, as a person would
                self.session.cookies.clear()
                self.stop.wait(1.0)
            except Exception as exc:  # a bug in the script must show, not kill the thread
                self.stats.error(f"{self.username}: {type(exc).__name__}: {exc}")
                logged_in = False
                self.session.cookies.clear()
                self.stop.wait(1.0)
            self.think()

    def step(self) -> None:
        raise NotImplementedError

    def login(self) -> None:
        page = self.get("login form", "/login")
        response = self.post(
            "login",
            "/login",
            {"csrf_token": csrf(page.text), "username": self.username, "password": DEMO_PASSWORD},
        )
        if _path(response.headers.get("Location", "")) in ("/login", ""):
            raise StepFailed("login: not logged in")
        self.stats.outcome("logins")

    def logout(self) -> None:
        page = self.get("request list", "/requests")
        self.post("logout", "/logout", {"csrf_token": csrf(page.text)})
        self.session.cookies.clear()
        self.stats.outcome("logouts")


class Requester(User):
    role = "requester"

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.55:
            self.book_flow()
        elif roll < 0.75:
            self.browse()
        elif roll < 0.87 and self.slips:
            self.get("slip", f"/requests/appointments/{self.rng.choice(self.slips)}/slip")
        elif roll < 0.97:
            self.search_by_name()
        else:
            self.logout()
            self.think()
            self.login()

    def browse(self) -> None:
        status = self.rng.choice(["", "", "scheduled", "submitted"])
        page = self.get("request list", "/requests" + (f"?status={status}" if status else ""))
        ids = REQUEST_LINK_RE.findall(page.text)
        if ids:
            self.think()
            self.get("request detail", f"/requests/{self.rng.choice(ids[:20])}")

    def search(self, action: str, start, query: str, expect=(200,)):
        """The "find the patient" form on ``start`` (the /requests/new page), as it is:
        a POST with its CSRF token, or a GET with the query in the URL (older pages)."""
        form = SEARCH_FORM_RE.search(start.text)
        if form is None:
            raise StepFailed(f"{action}: no search form on /requests/new")
        if form.group(1).lower() == "post":
            return self.call(
                action,
                "POST",
                "/requests/new",
                expect=expect,
                data={"csrf_token": csrf(start.text), "q": query},
            )
        return self.get(action, "/requests/new", params={"q": query}, expect=expect)

    def search_by_name(self) -> None:
        start = self.get("request start", "/requests/new")
        self.think()
        page = self.search("patient search", start, self.rng.choice(GIVEN))
        ids = PATIENT_LINK_RE.findall(page.text)
        if ids and self.rng.random() < 0.5:
            self.think()
            self.get("request form", f"/requests/patients/{self.rng.choice(ids)}/request")

    def new_cid(self) -> str:
        # 8 (first digit of a valid ID), the run's seed, the user, a counter: unique per run.
        self.seq += 1
        stem = f"8{self.plan.seed % 1000:03d}{self.index:03d}{self.seq:05d}"
        return stem + check_digit(stem)

    def find_patient(self) -> int:
        """An earlier patient by HN (their second exam), or a new one by national ID."""
        start = self.get("request start", "/requests/new")
        self.think()
        if self.patients and self.rng.random() < 0.3:
            patient_id, hn = self.rng.choice(self.patients)
            page = self.search("patient search", start, hn)
            if f'/requests/patients/{patient_id}/request"' not in page.text:
                raise StepFailed(f"patient search: HN {hn} did not find patient {patient_id}")
            return patient_id
        cid = self.new_cid()
        # An unknown national ID opens the registration form: in the same answer, or (older
        # pages) by a redirect that carries the ID.
        form = self.search("patient lookup", start, cid, expect=(200, 302))
        if form.status_code == 302:
            form_path = _path(form.headers["Location"])
            if not form_path.startswith("/requests/patients/new"):
                raise StepFailed(f"patient lookup: new ID went to {form_path}")
            form = self.get("patient form", form.headers["Location"])
        if 'name="given_name_th"' not in form.text:
            raise StepFailed("patient lookup: a new national ID did not open the registration")
        self.think()
        hn = f"L{self.index:03d}{self.seq:05d}"
        born = date(1940, 1, 1) + timedelta(days=self.rng.randrange(80 * 365))
        response = self.post(
            "patient register",
            "/requests/patients/new",
            {
                "csrf_token": csrf(form.text),
                "id_type": "NATIONAL_ID",
                "id_value": cid,
                "hn": hn,
                "prefix": self.rng.choice(["MR", "MRS", "MISS"]),
                "given_name_th": self.rng.choice(GIVEN),
                "family_name_th": self.rng.choice(FAMILY),
                "birth_day": str(born.day),
                "birth_month": str(born.month),
                "birth_year_be": str(born.year + 543),
                "sex": self.rng.choice(["MALE", "FEMALE"]),
                "phone": f"08{self.rng.randrange(10**8):08d}",
            },
        )
        target = _path(response.headers["Location"])
        match = re.fullmatch(r"/requests/patients/(\d+)/request", target)
        if match is None:
            raise StepFailed(f"patient register: went to {response.headers['Location']}")
        patient_id = int(match.group(1))
        self.patients.append((patient_id, hn))
        self.stats.outcome("patients registered")
        return patient_id

    def book_flow(self) -> None:
        patient_id = self.find_patient()
        form_path = f"/requests/patients/{patient_id}/request"
        form = self.get("request form", form_path)
        hub_ids = OPTION_RE.findall(_select(form.text, "hub_hospital_id"))
        if not hub_ids:
            raise StepFailed("request form: no hub to choose")
        self.think()
        # Most requests go to the province's hub; some to "any hub: earliest slot".
        hub = str(self.plan.hub_id) if self.rng.random() < 0.75 else ""
        # Procedures whose screening needs no lab result (its date is the server's "today",
        # which a simulated user cannot know); the other answers are given below.
        no_labs = {
            int(value)
            for value, sections in SECTIONS_RE.findall(form.text)
            if "contrast" not in sections.split()
        }
        procedures = [p for p in self.plan.hub_procedures if p in no_labs] or (
            self.plan.hub_procedures
        )
        response = self.call(
            "request create",
            "POST",
            form_path,
            expect=(200, 302),
            data={
                "csrf_token": csrf(form.text),
                "procedure_id": str(self.rng.choice(procedures)),
                "priority": self.rng.choices(["ROUTINE", "URGENT"], [9, 1])[0],
                "indication": self.rng.choice(INDICATIONS),
                "icd10_code": self.rng.choice(["", "K80.2", "N20.0", "R10.1"]),
                "requesting_clinician": "นพ.ทดสอบ ภาระงาน",
                "hub_hospital_id": hub,
                "treatment_right": self.rng.choice(["UC", "UC", "SSS", "CSMBS"]),
                "referral_number": f"LOAD-{self.rng.randrange(10**6):06d}",
                "pregnancy": "not_pregnant",
                "weight_kg": "60",
                **dict.fromkeys(MRI_KEYS, "no"),
            },
        )
        if response.status_code == 200:
            # The domain refused it (e.g. this patient already has this exam open): shown on
            # the form, an expected answer.
            if "error" not in response.text:
                raise StepFailed("request create: form shown again without an error")
            self.stats.outcome("requests refused (shown on the form)")
            return
        match = re.fullmatch(r"/requests/(\d+)/slots", _path(response.headers["Location"]))
        if match is None:
            raise StepFailed(f"request create: went to {response.headers['Location']}")
        request_id = int(match.group(1))
        self.requests_made.append(request_id)
        self.stats.outcome("requests created")
        if self.rng.random() < 0.15:
            self.stats.outcome("requests left for the hub to book")
            return
        for attempt in range(3):
            self.think()
            if self.choose_and_book(request_id, attempt):
                return
        self.stats.outcome("gave up after 3 lost slots")

    def choose_and_book(self, request_id: int, attempt: int) -> bool:
        slots_path = f"/requests/{request_id}/slots"
        page = self.get("slots", slots_path, expect=(200, 302))
        if page.status_code == 302:
            # The hub booked it in the meantime (hub.request_book) or it was closed.
            self.stats.outcome("request booked or closed by someone else")
            return True
        links = CONFIRM_RE.findall(page.text)
        days = DAY_LINK_RE.findall(page.text)
        if days and (not links or self.rng.random() < 0.3):
            hub, day = self.rng.choice(days[:10])
            self.think()
            page = self.get("slots, one day", slots_path, params={"hub": hub, "day": day})
            links = CONFIRM_RE.findall(page.text.split('id="day-slots"', 1)[-1]) or links
        if not links:
            self.stats.outcome("no free slot offered")
            return True
        # The earliest slots are the popular ones: the race is the point.
        link = html.unescape(links[min(int(self.rng.expovariate(0.7)), len(links) - 1)])
        confirm = self.get("confirm form", link)
        self.think()
        query = dict(part.split("=", 1) for part in urlsplit(link).query.split("&"))
        response = self.post(
            "book",
            link,
            {
                "csrf_token": csrf(confirm.text),
                "device_id": requests.utils.unquote(query["device_id"]),
                "start_at": requests.utils.unquote(query["start_at"]),
            },
        )
        target = _path(response.headers["Location"])
        if match := re.fullmatch(r"/requests/appointments/(\d+)/slip", target):
            appointment_id = int(match.group(1))
            self.stats.outcome("bookings", appointment_id)
            self.slips.append(appointment_id)
            self.get("slip", target)
            if self.rng.random() < 0.3:
                self.think()
                self.get("request detail", f"/requests/{request_id}")
            return True
        if target in (slots_path, f"/requests/{request_id}/reschedule"):
            # Someone took the slot (or the quota) first: the page says so, with fresh slots.
            self.stats.outcome("lost races (slot taken first)")
            return False
        raise StepFailed(f"book: went to {target}")


class Scheduler(User):
    role = "scheduler"

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            self.inbox()
        elif roll < 0.7:
            self.get("hub day", "/hub/day", params=self.day_params(14))
        elif roll < 0.9:
            self.get("hub week", "/hub/week", params=self.day_params(28))
        else:
            self.get("hub inbox", "/hub/inbox", params={"tab": "accepted"})

    def day_params(self, within: int) -> dict:
        day = datetime.now(BANGKOK).date() + timedelta(days=self.rng.randrange(within))
        params = {"date": day.isoformat()}
        if self.rng.random() < 0.3:
            params["modality"] = self.rng.choice(["US", "CT", "MR", "DX"])
        return params

    def inbox(self) -> None:
        page = self.get("hub inbox", "/hub/inbox")
        ids = HUB_REQUEST_RE.findall(page.text)
        if not ids:
            return
        self.think()
        request_id = self.rng.choice(ids[:10])
        page = self.get("hub request", f"/hub/requests/{request_id}")
        if "/accept" not in page.text or self.rng.random() < 0.3:
            return
        self.think()
        response = self.post(
            "hub accept", f"/hub/requests/{request_id}/accept", {"csrf_token": csrf(page.text)}
        )
        after = self.get("hub request", _path(response.headers["Location"]))
        # Accepted, or refused with the reason shown (another scheduler accepted it, or the
        # requester booked it, in the meantime): both are what a scheduler can meet.
        if FLASH_ERROR in after.text:
            self.stats.outcome("accepts refused (changed meanwhile)")
        else:
            self.stats.outcome("accepts")


class Radiologist(User):
    role = "radiologist"

    def step(self) -> None:
        day = datetime.now(BANGKOK).date() + timedelta(days=self.rng.randrange(7))
        page = self.get("hub exams", "/hub/exams", params={"date": day.isoformat()})
        ids = EXAM_RE.findall(page.text)
        for exam_id in self.rng.sample(ids, min(len(ids), self.rng.randrange(3))):
            self.think()
            self.get("hub exam", f"/hub/exams/{exam_id}")


def csrf(page: str) -> str:
    tag = CSRF_RE.search(page)
    value = VALUE_RE.search(tag.group(0)) if tag else None
    if value is None:
        raise StepFailed("no CSRF token on the page")
    return value.group(1)


def _select(page: str, name: str) -> str:
    start = page.find(f'name="{name}"')
    return page[start : page.find("</select>", start)] if start >= 0 else ""


def _path(url: str) -> str:
    return urlsplit(url).path


def run_users(plan: Plan, duration: float, stats: Stats, ramp: float, until=None) -> float:
    """Start every user (spread over ``ramp`` seconds), stop them after ``duration`` or,
    with ``until``, as soon as ``until(stats)`` is true (the suite's smoke test)."""
    stop = threading.Event()
    roles = (
        [(Requester, u) for u in plan.requesters]
        + [(Scheduler, u) for u in plan.schedulers]
        + [(Radiologist, u) for u in plan.radiologists]
    )
    random.Random(plan.seed).shuffle(roles)
    users = [
        cls(i, username, plan, stats, stop, ramp * i / max(len(roles), 1))
        for i, (cls, username) in enumerate(roles)
    ]
    started = time.perf_counter()
    for user in users:
        user.start()
    deadline = started + duration
    while (remaining := deadline - time.perf_counter()) > 0:
        if until is not None and until(stats):
            break
        time.sleep(min(remaining, 0.2 if until is not None else 1.0))
    stop.set()
    for user in users:
        user.join(timeout=180)
    return time.perf_counter() - started


# --- integrity, with SQL ---------------------------------------------------------------

# Every occupying appointment with the number of occupying appointments on the same
# device that cover its start (itself included): the most that run at once on a device
# is reached at some appointment's start, so these rows are every possible excess.
CONCURRENT_SQL = f"""
SELECT a.id, a.device_id, a.start_at, count(*) AS running
FROM appointment a
JOIN appointment b ON b.device_id = a.device_id AND b.start_at <= a.start_at
                  AND a.start_at < b.end_at AND b.status IN {OCCUPYING!r}
WHERE a.status IN {OCCUPYING!r}
GROUP BY a.id, a.device_id, a.start_at
HAVING count(*) > 1
"""
WINDOWS_SQL = """
SELECT t.device_id, t.valid_from, t.valid_to, w.weekday, w.start_time, w.end_time, w.capacity
FROM capacity_template t JOIN capacity_window w ON w.template_id = t.id
WHERE t.is_active
"""
DUPLICATES_SQL = {
    "duplicate accession numbers (per hub)": """
        SELECT count(*) FROM (SELECT hub_hospital_id, accession_number FROM appointment
                              GROUP BY 1, 2 HAVING count(*) > 1) d""",
    "duplicate Study Instance UIDs": """
        SELECT count(*) FROM (SELECT study_instance_uid FROM appointment
                              GROUP BY 1 HAVING count(*) > 1) d""",
    "requests holding two live appointments": f"""
        SELECT count(*) FROM (SELECT request_id FROM appointment WHERE status IN {LIVE!r}
                              GROUP BY 1 HAVING count(*) > 1) d""",
}


def integrity(database_url: str, booked_ids: list[int]) -> dict[str, int]:
    """Double bookings beyond capacity, duplicates, and confirmed bookings not in the
    database: every figure must be 0. Runs on PostgreSQL and SQLite alike."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            running = conn.execute(text(CONCURRENT_SQL)).all()
            windows = defaultdict(list)
            for row in conn.execute(text(WINDOWS_SQL)):
                windows[row.device_id].append(row)
            figures = {
                "appointments overlapping beyond capacity": sum(
                    row.running > _capacity(windows[row.device_id], row.start_at) for row in running
                )
            }
            for name, sql in DUPLICATES_SQL.items():
                figures[name] = conn.execute(text(sql)).scalar()
            found = set()
            ids = sorted(set(booked_ids))
            for i in range(0, len(ids), 1000):
                chunk = ids[i : i + 1000]
                found.update(
                    conn.execute(
                        text(
                            f"SELECT id FROM appointment WHERE id IN ({','.join(map(str, chunk))})"
                        )
                    ).scalars()
                )
            figures["confirmed bookings missing from the database"] = len(set(ids) - found)
            figures["appointments in the database"] = conn.execute(
                text("SELECT count(*) FROM appointment")
            ).scalar()
            return figures
    finally:
        engine.dispose()


def _capacity(windows, start_at) -> int:
    """The capacity of the window that holds this start (local time); 1 outside any."""
    if isinstance(start_at, str):  # SQLite through text(): an ISO string, naive UTC
        start_at = datetime.fromisoformat(start_at)
    local = start_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(BANGKOK)
    best = 1
    for w in windows:
        valid_from, valid_to = _as_date(w.valid_from), _as_date(w.valid_to)
        if (
            (valid_from is None or valid_from <= local.date())
            and (valid_to is None or local.date() <= valid_to)
            and w.weekday == local.weekday()
            and _as_time(w.start_time) <= local.time() < _as_time(w.end_time)
        ):
            best = max(best, w.capacity)
    return best


def _as_date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def _as_time(value):
    return datetime.strptime(value[:8], "%H:%M:%S").time() if isinstance(value, str) else value


# --- set-up: database, users, server ----------------------------------------------------


def prepare_database(database_url: str, keep: bool) -> None:
    url = make_url(database_url)
    name = url.database
    if not keep:
        if "load" not in name:
            sys.exit(
                f"refusing to drop {name!r}: give a database whose name has 'load' in it,"
                " or --keep-database"
            )
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    env = server_env(database_url)
    for args in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def add_users(database_url: str, requesters: int, schedulers: int, radiologists: int) -> Plan:
    """Load-test users: copies of the demo users (so the same password hash), spread over
    the community hospitals (requesters) and Mahasarakham (hub staff)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        columns = [
            c
            for c in conn.execute(text("SELECT * FROM user_account LIMIT 0")).keys()
            if c not in ("id",)
        ]
        community = (
            conn.execute(text("SELECT id FROM hospital WHERE NOT is_hub ORDER BY code"))
            .scalars()
            .all()
        )
        hub_id = conn.execute(
            text("SELECT id FROM hospital WHERE code = :c"), {"c": HUB_CODE}
        ).scalar_one()
        wanted = (
            [
                ("REQUESTER", f"load.req{i:02d}", community[i % len(community)], "staff.kudrang")
                for i in range(requesters)
            ]
            + [
                ("SCHEDULER", f"load.sched{i:02d}", hub_id, "scheduler.mkh")
                for i in range(schedulers)
            ]
            + [
                ("RADIOLOGIST", f"load.rad{i:02d}", hub_id, "radiologist.mkh")
                for i in range(radiologists)
            ]
        )
        existing = set(conn.execute(text("SELECT username FROM user_account")).scalars())
        copied = ", ".join(c for c in columns if c not in ("username", "full_name", "hospital_id"))
        for _role, username, hospital_id, template in wanted:
            if username in existing:
                continue
            conn.execute(
                text(
                    f"INSERT INTO user_account (username, full_name, hospital_id, {copied}) "
                    f"SELECT :u, :n, :h, {copied} FROM user_account WHERE username = :t"
                ),
                {
                    "u": username,
                    "n": f"ผู้ใช้ทดสอบภาระงาน {username}",
                    "h": hospital_id,
                    "t": template,
                },
            )
        procedures = (
            conn.execute(
                text(
                    "SELECT DISTINCT p.id FROM procedure p"
                    " JOIN device d ON d.modality_code = p.modality_code"
                    " WHERE d.hospital_id = :h AND d.is_active AND p.is_active ORDER BY p.id"
                ),
                {"h": hub_id},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    names = [w[1] for w in wanted]
    return Plan(
        base_url="",
        hub_id=hub_id,
        hub_procedures=list(procedures),
        requesters=names[:requesters],
        schedulers=names[requesters : requesters + schedulers],
        radiologists=names[requesters + schedulers :],
        think=0,
        seed=0,
    )


def server_env(database_url: str, gc_freeze: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": env.get("SECRET_KEY", "load-benchmark"),
            # Plain http on 127.0.0.1: the session cookie cannot be Secure here (docs/deploy.md).
            "RADBOOK_INSECURE_COOKIES": "1",
            "RADBOOK_GC_FREEZE": "1" if gc_freeze else "0",
        }
    )
    return env


def free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    database_url: str,
    port: int,
    workers: int | None,
    threads: int | None,
    gc_freeze: bool,
    log_path: Path,
) -> subprocess.Popen:
    command = [
        str(BIN / "gunicorn"),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--error-logfile",
        "-",
        "--no-control-socket",
    ]  # its default path is one per machine, not per server
    if workers:
        command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    log = log_path.open("w")
    process = subprocess.Popen(
        [*command, "wsgi:app"],
        cwd=ROOT,
        env=server_env(database_url, gc_freeze),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited ({process.returncode}); see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop_gunicorn(process)
    sys.exit(f"gunicorn did not answer within 120 s; see {log_path}")


def gunicorn_settings(workers: int | None, threads: int | None) -> str:
    """What gunicorn will run with (``--print-config`` of the same command line)."""
    command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--print-config"]
    command += ["--workers", str(workers)] if workers else []
    command += ["--threads", str(threads)] if threads else []
    printed = subprocess.run(
        [*command, "wsgi:app"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    config = dict(re.findall(r"^(workers|threads|worker_class)\s+= (\S+)$", printed, re.M))
    return f"{config['workers']} workers x {config['threads']} threads ({config['worker_class']})"


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def settled_cpu_seconds(master_pid: int, timeout: float = 60) -> float:
    """gunicorn's CPU once every worker has loaded the app (the CPU stops moving): what
    the requests then cost is counted from here, not the start-up (about a second per
    worker, the `import wsgi` figure of issue 19 row 6)."""
    deadline = time.monotonic() + timeout
    before = server_cpu_seconds(master_pid)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = server_cpu_seconds(master_pid)
        if now - before < 0.05:
            return now
        before = now
    return before


def server_cpu_seconds(master_pid: int) -> float:
    """utime + stime of gunicorn's master and its workers (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == master_pid or ppid == master_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- report -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def report(
    stats: Stats,
    elapsed: float,
    figures: dict[str, int],
    loads: list[tuple],
    server_cpu: float | None,
    client_cpu: float,
    settings: str,
) -> bool:
    everything = sorted(t for values in stats.timings.values() for t in values)
    count = len(everything)
    print(f"\n== web load: {settings}")
    print(
        f"   {elapsed:.0f} s, {count} requests ({count / elapsed:.1f}/s), "
        f"errors: {stats.error_count}"
    )
    print(
        f"   machine: {os.cpu_count()} CPUs, load average (1 min) "
        f"start {loads[0][0]:.2f}, min {min(x[0] for x in loads):.2f}, "
        f"max {max(x[0] for x in loads):.2f}, end {loads[-1][0]:.2f}; "
        f"(1, 5, 15 min) at the end {loads[-1][0]:.2f} {loads[-1][1]:.2f} {loads[-1][2]:.2f}"
    )
    if server_cpu is not None and count:
        print(
            f"   CPU: gunicorn {server_cpu:.0f} s ({server_cpu / count * 1000:.1f} ms/request), "
            f"load client {client_cpu:.0f} s ({client_cpu / count * 1000:.1f} ms/request)"
        )
    print(
        f"\n   {'action':<24}{'count':>8}"
        + "".join(f"{h:>10}" for h in ("p50 ms", "p95 ms", "p99 ms", "max ms"))
    )

    def line(name: str, values: list[float]) -> None:
        print(
            f"   {name:<24}{len(values):>8}{percentile(values, 0.5) * 1000:>10.0f}"
            f"{percentile(values, 0.95) * 1000:>10.0f}{percentile(values, 0.99) * 1000:>10.0f}"
            f"{(values[-1] if values else float('nan')) * 1000:>10.0f}"
        )

    line("ALL", everything)
    for name in sorted(stats.timings):
        line(name, sorted(stats.timings[name]))
    print("\n   outcomes:")
    for name, value in sorted(stats.outcomes.items()):
        print(f"     {name:<44}{value:>8}")
    print("\n   integrity (SQL, after the run):")
    ok = stats.error_count == 0
    for name, value in figures.items():
        must_be_zero = name != "appointments in the database"
        print(f"     {name:<52}{value:>8}{'' if not must_be_zero else '  (must be 0)'}")
        ok = ok and (not must_be_zero or value == 0)
    if stats.errors:
        print("\n   first errors:")
        for line_ in stats.errors:
            print(f"     {line_}")
    print(
        f"\n   {'PASS' if ok else 'FAIL'}: errors and integrity figures all zero"
        if ok
        else "\n   FAIL: errors or integrity figures above zero"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="reuse the database as it is (no drop, no demo reload)",
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--schedulers", type=int, default=8)
    parser.add_argument("--radiologists", type=int, default=4)
    parser.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--ramp", type=float, default=20, help="seconds to start every user")
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="mean think time between pages, seconds (uniform 0.5x-1.5x)",
    )
    parser.add_argument("--workers", type=int, help="override gunicorn.conf.py")
    parser.add_argument("--threads", type=int, help="override gunicorn.conf.py")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="workers skip gc.freeze() after loading the app"
    )
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)

    print(
        f"database {make_url(args.database_url).render_as_string(hide_password=True)}: "
        f"{'kept' if args.keep_database else 'created, upgraded, demo loaded'}",
        flush=True,
    )
    if not args.keep_database:
        prepare_database(args.database_url, keep=False)
    requesters = args.users - args.schedulers - args.radiologists
    plan = add_users(args.database_url, requesters, args.schedulers, args.radiologists)
    port = free_port(args.port)
    plan.base_url, plan.think, plan.seed = f"http://127.0.0.1:{port}", args.think, args.seed

    log_path = Path(tempfile.gettempdir()) / f"radbook_load_gunicorn_{port}.log"
    process = start_gunicorn(
        args.database_url, port, args.workers, args.threads, not args.no_gc_freeze, log_path
    )
    settings = (
        f"{args.users} users ({requesters} requesters, {args.schedulers} schedulers, "
        f"{args.radiologists} radiologists), think {args.think} s; gunicorn "
        f"{gunicorn_settings(args.workers, args.threads)}, gc.freeze "
        f"{'off' if args.no_gc_freeze else 'on'}"
    )
    print(f"gunicorn on {plan.base_url} (log {log_path}); {settings}", flush=True)
    stats = Stats()
    loads = [os.getloadavg()]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(10):
            loads.append(os.getloadavg())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start_cpu = settled_cpu_seconds(process.pid)
    print(f"gunicorn start-up: {start_cpu:.1f} s CPU (not counted below)", flush=True)
    client_cpu = time.process_time()
    try:
        elapsed = run_users(plan, args.duration, stats, args.ramp)
        server_cpu = server_cpu_seconds(process.pid) - start_cpu
    finally:
        sampling.set()
        stop_gunicorn(process)
    client_cpu = time.process_time() - client_cpu
    loads.append(os.getloadavg())
    log = log_path.read_text()
    tracebacks = log.count("Traceback")
    if tracebacks or "WORKER TIMEOUT" in log:
        stats.error(
            f"gunicorn log: {tracebacks} tracebacks, "
            f"{log.count('WORKER TIMEOUT')} worker timeouts ({log_path})"
        )
    figures = integrity(args.database_url, stats.booked_ids)
    ok = report(stats, elapsed, figures, loads, server_cpu, client_cpu, settings)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
