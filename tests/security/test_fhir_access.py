"""FHIR: every resource type, read, search and create, with the bearer token of each
hospital's ApiClient, against every world (``worlds.py``).

It fails on another hospital's markers in any answer, on a read of another hospital's
row answered differently from a missing one (which would confirm it exists), on a
search returning another hospital's rows, and on any database change after a create
that refers to another hospital's patient, request or study.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import select

from app.extensions import db as _db
from integrations.fhir import systems
from integrations.fhir.registry import CREATORS, READERS
from scheduling.models import Study
from tests.integrations.fhir.test_writes import booking, free_slots, order, report_body, study_body
from tests.security.matrix import FIGURES, WriteWatch, report
from tests.security.worlds import API_TOKENS, PLAN, Worlds

MISSING = "987654"
# Which row of a world each type reads as (None: the directory, the same for everyone).
WORLD_ROW = {
    "Patient": lambda x, study: [x.patient_id],
    "ServiceRequest": lambda x, study: [x.request_id, x.open_request_id],
    "Appointment": lambda x, study: [x.appointment_id],
    "ImagingStudy": lambda x, study: [study],
    "DiagnosticReport": lambda x, study: [x.request_id],
}
DIRECTORY = {"Organization", "Practitioner", "Device", "Schedule", "Slot"}
# Searches that name one world's patient data, by type: (parameter, value of the world).
SEARCHES = {
    "Patient": [
        ("identifier", lambda w, x: f"{systems.TH_CID}|{x.patient_cid}"),
        ("name", lambda w, x: x.markers[-3]),
    ],
    "ServiceRequest": [
        ("patient", lambda w, x: f"Patient/{x.patient_id}"),
        ("identifier", lambda w, x: x.markers[0]),
    ],
    "Appointment": [
        ("patient", lambda w, x: f"Patient/{x.patient_id}"),
        ("identifier", lambda w, x: x.markers[3]),
        ("based-on", lambda w, x: f"ServiceRequest/{x.request_id}"),
    ],
    "ImagingStudy": [
        ("patient", lambda w, x: f"Patient/{x.patient_id}"),
        ("based-on", lambda w, x: f"ServiceRequest/{x.request_id}"),
    ],
    "DiagnosticReport": [
        ("patient", lambda w, x: f"Patient/{x.patient_id}"),
        ("based-on", lambda w, x: f"ServiceRequest/{x.request_id}"),
    ],
}


class Client:
    def __init__(self, test_client, token: str):
        self.client, self.token = test_client, token

    def headers(self, content: bool = False) -> dict:
        headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {self.token}"}
        if content:
            headers["Content-Type"] = "application/fhir+json"
        return headers

    def get(self, path: str):
        return self.client.get(f"/fhir/{path}", headers=self.headers())

    def post(self, path: str, body):
        return self.client.post(
            f"/fhir/{path}", data=json.dumps(body), headers=self.headers(content=True)
        )

    def search_post(self, path: str, form: dict):
        return self.client.post(f"/fhir/{path}/_search", data=form, headers=self.headers())


def _study_ids(w: Worlds) -> dict[str, int]:
    return {
        name: _db.session.scalar(select(Study.id).where(Study.request_id == x.request_id))
        for name, x in w.worlds.items()
    }


def _visible(code: str, world: str, rtype: str = "", w: Worlds | None = None) -> bool:
    """Does this hospital's client see the world's row? A patient is seen through any of
    the patient's worlds."""
    if rtype == "Patient" and w is not None:
        return any(
            code in PLAN[n][:2] for n, x in w.worlds.items() if x.patient_id == w[world].patient_id
        )
    return code in PLAN[world][:2]


def _issue(response) -> tuple:
    data = response.get_json(silent=True) or {}
    issue = (data.get("issue") or [{}])[0]
    coding = ((issue.get("details") or {}).get("coding") or [{}])[0]
    return response.status_code, issue.get("code"), coding.get("code")


def _leaks(response, hidden: dict[str, list[str]], sent: str = "") -> list[str]:
    body = response.get_data(as_text=True)
    for value in sent.replace("|", " ").replace("/", " ").split():
        if len(value) >= 4:
            body = body.replace(value, "")
    return [f"{world}:{m}" for world, markers in hidden.items() for m in markers if m in body]


def _ids(response) -> set[str]:
    data = response.get_json(silent=True) or {}
    return {e["resource"]["id"] for e in data.get("entry") or []}


def reads_and_searches(
    client: Client, code: str, w: Worlds, studies: dict[str, int]
) -> Iterator[tuple[str, list[str]]]:
    """Yield (what was tried, failures) for every read and search of this client."""
    hidden = w.hidden_markers_for_hospital(code)
    for rtype in READERS:
        response = client.get(rtype if rtype != "Slot" else "Slot?service-type=US-UPABD")
        yield (
            f"search {rtype}",
            [f"{rtype} search shows {leak}" for leak in _leaks(response, hidden)],
        )
        if rtype in DIRECTORY:
            continue
        missing = _issue(client.get(f"{rtype}/{MISSING}"))
        for world, x in w.worlds.items():
            for row_id in WORLD_ROW[rtype](x, studies[world]):
                failures = []
                read = client.get(f"{rtype}/{row_id}")
                failures += [f"{rtype}/{row_id} shows {leak}" for leak in _leaks(read, hidden)]
                seen = _visible(code, world, rtype, w)
                if seen:
                    if read.status_code != 200:
                        failures.append(f"own {rtype}/{row_id} answered {read.status_code}")
                elif _issue(read) != missing:
                    failures.append(
                        f"{world} {rtype}/{row_id} answered {_issue(read)}, a missing one {missing}"
                    )
                yield f"read {rtype}/{row_id}", failures
                # _search by POST for the first world, GET for the others
                via = "post" if world == "KM" else "get"
                found = (
                    client.get(f"{rtype}?_id={row_id}")
                    if via == "get"
                    else client.search_post(rtype, {"_id": str(row_id)})
                )
                shown = str(row_id) in _ids(found)
                bad = [] if shown == seen else [f"{rtype}?_id={row_id} ({via}) found={shown}"]
                yield (
                    f"search {rtype} _id {via}",
                    bad + [f"{rtype}?_id={row_id} shows {leak}" for leak in _leaks(found, hidden)],
                )
            for param, value_of in SEARCHES.get(rtype, []):
                value = value_of(w, x)
                found = client.get(f"{rtype}?{param}={value}")
                failures = [
                    f"{rtype}?{param}={value} shows {leak}" for leak in _leaks(found, hidden, value)
                ]
                if not _visible(code, world, rtype, w) and _ids(found) & {
                    str(i) for i in WORLD_ROW[rtype](x, studies[world])
                }:
                    failures.append(f"{rtype}?{param}={value} finds {world}'s row")
                yield f"search {rtype} {param}", failures


def creates(
    client: Client, code: str, w: Worlds, studies: dict[str, int]
) -> Iterator[tuple[str, list[str]]]:
    """Creates that refer to another hospital's rows: answered as if the rows were missing,
    and nothing written."""
    slot = (free_slots(client) or [None])[0]
    for world, x in w.worlds.items():
        if _visible(code, world):
            continue
        tries = [
            (
                "ServiceRequest",
                order({"reference": f"Patient/{x.patient_id}"}, placer="ACC-1"),
                order({"reference": f"Patient/{MISSING}"}, placer="ACC-1"),
            ),
            (
                "ImagingStudy",
                study_body(
                    "1.2.826.0.1.99", based_on={"reference": f"ServiceRequest/{x.request_id}"}
                ),
                study_body("1.2.826.0.1.99", based_on={"reference": f"ServiceRequest/{MISSING}"}),
            ),
            (
                "DiagnosticReport",
                report_body("ผลปลอม", basedOn=[{"reference": f"ServiceRequest/{x.request_id}"}]),
                report_body("ผลปลอม", basedOn=[{"reference": f"ServiceRequest/{MISSING}"}]),
            ),
            (
                "DiagnosticReport",
                report_body("ผลปลอม", study=[{"reference": f"ImagingStudy/{studies[world]}"}]),
                None,
            ),
        ]
        if slot is not None:
            tries.append(
                ("Appointment", booking(slot.id, x.open_request_id), booking(slot.id, MISSING))
            )
        for rtype, body, missing_body in tries:
            with WriteWatch() as watch:
                response = client.post(rtype, body)
            failures = [
                f"create {rtype} → {world} shows {leak}"
                for leak in _leaks(response, w.hidden_markers_for_hospital(code))
            ]
            if watch.writes:
                failures.append(
                    f"create {rtype} referring to {world} wrote to the database "
                    f"({response.status_code})"
                )
            if response.status_code < 400:
                failures.append(
                    f"create {rtype} referring to {world} answered {response.status_code}"
                )
            if missing_body is not None:
                missing = _issue(client.post(rtype, missing_body))
                if _issue(response)[:2] != missing[:2]:
                    failures.append(
                        f"create {rtype} referring to {world} answered "
                        f"{_issue(response)}, a missing one {missing}"
                    )
            yield f"create {rtype}", failures


def test_fhir_client_sees_and_writes_only_its_hospitals_rows(app, worlds, request):
    studies = _study_ids(worlds)
    _db.session.remove()
    failures, tried = [], 0
    for code, token in API_TOKENS.items():
        client = Client(app.test_client(), token)
        for _what, problems in (
            *reads_and_searches(client, code, worlds, studies),
            *creates(client, code, worlds, studies),
        ):
            tried += 1
            failures += [f"{code}: {p}" for p in problems]
        # A web login cookie is no FHIR credential (the web matrix checks it per route).
    FIGURES["fhir"] += tried
    report(
        request,
        "fhir",
        f"{len(API_TOKENS)} hospital clients × {len(READERS)} resource "
        f"types ({len(CREATORS)} creatable) × 4 worlds + missing = {tried} interactions; "
        f"{len(failures)} failures",
    )
    assert not failures, "\n".join(failures[:60])
