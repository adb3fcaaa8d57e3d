"""Slots are computed, never stored: ``scheduling.availability.find_slots`` for the client.

A Slot's id, ``slot-<device>-<epoch>-<procedure>``, carries everything needed to
compute it again, so ``GET /fhir/Slot/<id>`` and an Appointment that names the slot
work without a table. "Free" is free *for this client*: quotas reserve capacity per
requesting hospital, so two hospitals may see different free slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fhir.resources.slot import Slot as FhirSlot
from sqlalchemy import select

from integrations.fhir import mappers, systems
from integrations.fhir.auth import FhirClient
from integrations.fhir.errors import MSG_NOT_FOUND, FhirError
from integrations.fhir.resources import SearchParam
from integrations.fhir.search import Params, bad, date_bounds, reference_id, row_id
from integrations.fhir.search import token as parse_token
from scheduling.clock import to_local, utcnow
from scheduling.db import db
from scheduling.i18n import N_
from scheduling.limits import date_in_range
from scheduling.models import Device, Procedure

SLOT_ID = re.compile(r"^slot-(\d+)-(\d+)-(\d+)$")
MAX_SLOTS = 200
MSG_SERVICE_TYPE = N_("Slot search needs exactly one service-type (a procedure code)")


@dataclass(frozen=True)
class SlotKey:
    device: Device
    start_at: datetime
    procedure: Procedure


def parse_slot_id(slot_id: str) -> SlotKey | None:
    match = SLOT_ID.match(slot_id)
    if not match:
        return None
    device_id, procedure_id = row_id(match.group(1)), row_id(match.group(3))
    if device_id is None or procedure_id is None or len(match.group(2)) > 12:
        return None
    epoch = int(match.group(2))
    device = db.session.get(Device, device_id)
    procedure = db.session.get(Procedure, procedure_id)
    if device is None or procedure is None or device.modality_code != procedure.modality_code:
        return None
    try:
        start_at = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if not date_in_range(start_at):  # 9999-12-31 overflows in the local zone
        return None
    return SlotKey(device, start_at, procedure)


def _find(client: FhirClient, procedure: Procedure, **kwargs):
    from scheduling.availability import find_slots  # the scheduling engine's one search

    return find_slots(
        kwargs.pop("now"), procedure, requesting_hospital_id=client.hospital_id, **kwargs
    )


def _no_clause(value: str, client: FhirClient):  # pragma: no cover - Slot filters itself
    return None


class SlotReader:
    resource_type = "Slot"

    def all_params(self) -> dict[str, SearchParam]:
        return {
            "service-type": SearchParam("token", _no_clause, "procedure code (required, one)"),
            "start": SearchParam("date", _no_clause, "slot start"),
            "schedule": SearchParam("reference", _no_clause, "Schedule/<device id>"),
            "status": SearchParam("token", _no_clause, "free (only free slots are listed)"),
            "_id": SearchParam("token", _no_clause, "slot id"),
        }

    def read(self, client: FhirClient, id_: str, now: datetime | None = None):
        key = parse_slot_id(id_)
        if key is None:
            raise FhirError(404, MSG_NOT_FOUND, code="not-found", type="Slot", id=id_)
        return self.resource(client, key, now or utcnow()), None

    def resource(self, client: FhirClient, key: SlotKey, now: datetime) -> FhirSlot:
        day = to_local(key.start_at).date()
        found = [
            s
            for s in _find(
                client,
                key.procedure,
                now=now,
                device_id=key.device.id,
                date_from=day,
                date_to=day,
                limit=MAX_SLOTS,
            )
            if s.start_at == key.start_at
        ]
        end_at = found[0].end_at if found else key.start_at + _duration(key.procedure)
        return mappers.slot_resource(
            device_id=key.device.id,
            start_at=key.start_at,
            end_at=end_at,
            procedure=key.procedure,
            free=bool(found),
        )

    def search(self, client: FhirClient, params: Params, now: datetime | None = None):
        now = now or utcnow()
        procedures = params.get("service-type")
        if len(procedures) != 1 or len(procedures[0]) != 1:
            raise FhirError(400, MSG_SERVICE_TYPE, code="service-type-required")
        system, code = parse_token(procedures[0][0])
        procedure = None
        if system in (None, systems.procedure_system()) and code:
            procedure = db.session.scalar(select(Procedure).where(Procedure.code == code))
        if procedure is None:
            return [], 0
        for values in params.get("status"):
            if "free" not in [parse_token(v)[1] for v in values]:
                return [], 0  # busy slots are not enumerated
        device_ids: list[int | None] = [None]
        for values in params.get("schedule"):
            device_ids = [reference_id("schedule", v, "Schedule") for v in values]
        lower, upper = None, None
        for values in params.get("start"):
            if len(values) != 1:
                raise bad("start", "one value per start parameter")
            prefix, start, end = date_bounds("start", values[0])
            if prefix in ("ge", "gt", "sa", "eq"):
                bound = start if prefix == "ge" else end if prefix != "eq" else start
                lower = bound if lower is None else max(lower, bound)
            if prefix in ("le", "lt", "eb", "eq"):
                bound = start if prefix in ("lt", "eb") else end
                upper = bound if upper is None else min(upper, bound)
            if prefix == "ne":
                raise bad("start", "ne is not supported for slots")
        wanted_ids = [v for values in params.get("_id") for v in values]
        limit = min(params.offset + params.count, MAX_SLOTS)
        slots = []
        for device_id in device_ids:
            slots += _find(
                client,
                procedure,
                now=now,
                device_id=device_id,
                date_from=to_local(lower).date() if lower else None,
                date_to=to_local(upper).date() if upper else None,
                limit=limit,
            )
        slots = [
            s
            for s in slots
            if (lower is None or s.start_at >= lower) and (upper is None or s.start_at < upper)
        ]
        slots.sort(key=lambda s: (s.start_at, s.device_id))
        resources = [
            mappers.slot_resource(
                device_id=s.device_id,
                start_at=s.start_at,
                end_at=s.end_at,
                procedure=procedure,
                free=True,
            )
            for s in slots
        ]
        if wanted_ids:
            resources = [r for r in resources if r.id in wanted_ids]
        page = resources[params.offset : params.offset + params.count]
        return page, None


def _duration(procedure: Procedure) -> timedelta:
    return timedelta(minutes=procedure.duration_minutes)
