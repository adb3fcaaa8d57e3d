"""The scanners allowed to talk to RadBook, kept in memory between short refreshes.

The association check and every C-FIND need the calling scanner's settings
(hub, character set, filter-by-calling-AE, the hub's Patient ID policy). Reading
them from this directory keeps each C-FIND at one SQL query; a change made in the
admin pages is picked up within ``DICOM_DEVICE_REFRESH_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from scheduling import addresses
from scheduling.db import db
from scheduling.models import Device, DicomCharset, Hospital, PatientIdPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    ae_title: str
    name: str
    station_name: str
    modality_code: str
    charset: DicomCharset
    filter_by_calling_ae: bool
    hospital_id: int
    hospital_code: str
    patient_id_policy: PatientIdPolicy
    networks: tuple[addresses.Network, ...] = ()

    def calls_from(self, address: str | None) -> bool:
        """Whether an association from this address may be this device."""
        return addresses.allowed(address, self.networks)


def _networks(ae_title: str, text: str | None) -> tuple[addresses.Network, ...]:
    try:
        return tuple(addresses.parse_networks(text))
    except addresses.BadAddressList:
        # Stored before validation existed, or edited by hand: allow nothing.
        log.warning("device %s has an unreadable address list; it may not associate", ae_title)
        return ()


def load_devices() -> dict[str, DeviceInfo]:
    """Every active device, by AE title (needs an app context)."""
    rows = db.session.execute(
        select(
            Device.id,
            Device.ae_title,
            Device.name,
            Device.station_name,
            Device.modality_code,
            Device.charset,
            Device.mwl_filter_by_calling_ae,
            Hospital.id,
            Hospital.code,
            Hospital.patient_id_policy,
            Device.allowed_addresses,
        )
        .join(Hospital, Hospital.id == Device.hospital_id)
        .where(Device.is_active.is_(True))
    ).all()
    return {
        row[1].strip(): DeviceInfo(
            id=row[0],
            ae_title=row[1].strip(),
            name=row[2],
            station_name=row[3] or row[1],
            modality_code=row[4],
            charset=row[5] or DicomCharset.UTF8,
            filter_by_calling_ae=bool(row[6]),
            hospital_id=row[7],
            hospital_code=row[8],
            patient_id_policy=row[9] or PatientIdPolicy.HN,
            networks=_networks(row[1], row[10]),
        )
        for row in rows
    }


class DeviceDirectory:
    """AE title → DeviceInfo, reloaded from the database when older than ``max_age``."""

    def __init__(self, app: Flask, max_age: float = 10.0):
        self._app = app
        self._max_age = max_age
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceInfo] = {}
        self._loaded_at = float("-inf")
        # Moves on whenever a reload finds any device changed: what was worked out from
        # the devices (worklist.prepared) is keyed by it.
        self.generation = 0

    def refresh(self) -> None:
        with self._app.app_context():
            devices = load_devices()
        with self._lock:
            if devices != self._devices:
                self.generation += 1
            self._devices = devices
            self._loaded_at = time.monotonic()

    def _current(self) -> dict[str, DeviceInfo]:
        if time.monotonic() - self._loaded_at > self._max_age:
            try:
                self.refresh()
            except SQLAlchemyError as exc:
                # The database is away: keep accepting the scanners known so far, so that
                # each request gets a DICOM failure status rather than a dropped
                # association; look again within a second (or ``max_age`` if shorter).
                log.warning(
                    "DICOM devices not reloaded (database unavailable): %s", type(exc).__name__
                )
                with self._lock:
                    self._loaded_at = time.monotonic() - self._max_age + min(self._max_age, 1.0)
        return self._devices

    def get(self, ae_title: str | None) -> DeviceInfo | None:
        if not ae_title:
            return None
        return self._current().get(ae_title.strip())

    def get_from(self, ae_title: str | None, address: str | None) -> DeviceInfo | None:
        """The device with this AE title, if it may call from this address."""
        device = self.get(ae_title)
        return device if device is not None and device.calls_from(address) else None

    def ae_titles(self, address: str | None = None) -> list[str]:
        """AE titles that may associate: all of them, or those allowed from ``address``."""
        devices = self._current()
        if address is None:
            return list(devices)
        return [ae for ae, device in devices.items() if device.calls_from(address)]
