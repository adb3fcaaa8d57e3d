"""The DICOM SCP: Verification, Modality Worklist C-FIND, MPPS N-CREATE / N-SET.

Handlers follow pynetdicom's ``apps/qrscp``: bound with extra arguments through
``evt_handlers``; ``handle_find`` is a generator yielding ``(0xFF00, identifier)``
per match and checking ``event.is_cancelled``; errors become DICOM failure
statuses. Each handler runs in the association's thread, which has no Flask
request: it pushes its own app context, so it gets its own database session.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, _config, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy.exc import SQLAlchemyError

from scheduling.audit import Actor, record_read
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.models import Interface
from worklist import mwl
from worklist.devices import DeviceDirectory, DeviceInfo
from worklist.fastfind import PendingSender
from worklist.matching import InvalidMatchingValue
from worklist.prepared import PreparedFind, PreparedFinds
from worklist.reactor import EventDrivenRequestHandler

log = logging.getLogger(__name__)

# C-FIND failure statuses (PS3.4 C.4.1.1.4 / K.4.1.1.4).
STATUS_PENDING = 0xFF00
STATUS_CANCEL = 0xFE00
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_IDENTIFIER_MISMATCH = 0xA900  # identifier does not match SOP class
STATUS_UNABLE_TO_PROCESS = 0xC000

# An AE title no scanner can have ("\" is not allowed in AE): keeps pynetdicom's
# calling-AE check switched on while no device exists yet.
_NOBODY = "\\"

# Identifier pretty-printing costs time on every query and puts patient data in
# logs: off unless DICOM_LOG_IDENTIFIERS is set.
_config.LOG_HANDLER_LEVEL = "none"


def configure_logging(log_identifiers: bool) -> None:
    _config.LOG_REQUEST_IDENTIFIERS = log_identifiers
    _config.LOG_RESPONSE_IDENTIFIERS = log_identifiers


class RadbookAE(AE):
    """An AE whose accepted calling AE titles are the known, active devices *allowed to
    call from the requestor's address*.

    pynetdicom checks ``require_calling_aet`` while negotiating, in the association's
    own thread (an ``Association`` is a thread): the requestor's address is read from
    there, so a known AE title from an unknown host gets A-ASSOCIATE-RJ (rejected
    permanent, "calling AE title not recognised") before any DIMSE message is read.
    """

    def __init__(self, ae_title: str, directory: DeviceDirectory):
        super().__init__(ae_title=ae_title)
        self._directory = directory

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        current = threading.current_thread()
        if isinstance(current, Association) and current.is_acceptor:
            return self._directory.ae_titles(current.requestor.address or "") or [_NOBODY]
        return self._directory.ae_titles() or [_NOBODY]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:  # pragma: no cover
        raise AttributeError("the accepted AE titles are the devices in the database")


def _failure(status: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = comment[:64]
    return ds


def _zone(app: Flask) -> ZoneInfo:
    return ZoneInfo(app.config["RADBOOK_TIMEZONE"])


def handle_echo(event: evt.Event) -> int:
    return 0x0000


def handle_open(event: evt.Event) -> None:
    """TCP_NODELAY on every accepted connection.

    A C-FIND answer is a burst of small PDUs; with Nagle's algorithm each waits for
    the peer's delayed ACK (40 ms on Linux), which alone would break the 5 ms target.
    """
    sock = getattr(event.assoc.dul.socket, "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - the peer may already be gone
            pass


def handle_rejected(event: evt.Event) -> None:
    """A refused association is worth a line in the log: a scanner set up wrongly, or
    someone trying AE titles (the deployment guide prints them)."""
    requestor = event.assoc.requestor
    log.warning(
        "DICOM association from %s calling %r as %r rejected",
        requestor.address,
        (requestor.primitive.called_ae_title if requestor.primitive else ""),
        requestor.ae_title,
    )


def handle_find(
    event: evt.Event,
    app: Flask,
    directory: DeviceDirectory,
    fast: bool = True,
    prepared_finds: PreparedFinds | None = None,
) -> Iterator[Any]:
    """Modality Worklist C-FIND: one SQL query, one pending response per step."""
    caller = directory.get_from(event.assoc.requestor.ae_title, event.assoc.requestor.address)
    if caller is None:  # removed, disabled or moved while the association was open
        yield _failure(STATUS_UNABLE_TO_PROCESS, "Calling AE is not a known device"), None
        return
    zone = _zone(app)
    syntax = UID(event.context.transfer_syntax)
    try:
        prepared = _prepared(event, directory, prepared_finds, caller, zone, syntax)
    except _Undecodable:
        log.warning("MWL C-FIND from %s: identifier could not be decoded", caller.ae_title)
        yield _failure(STATUS_IDENTIFIER_MISMATCH, "Identifier could not be decoded"), None
        return
    except InvalidMatchingValue as exc:
        yield _failure(STATUS_IDENTIFIER_MISMATCH, str(exc)), None
        return
    try:
        with app.app_context():
            rows = mwl.fetch(prepared.query, zone)
            if rows:
                _audit(caller, rows, event.assoc.requestor.address)
            db.session.commit()  # end the transaction (and keep the audit) before answering
    except SQLAlchemyError:
        log.exception("MWL C-FIND from %s: database error", caller.ae_title)
        yield _failure(STATUS_OUT_OF_RESOURCES, "Database unavailable"), None
        return

    ctx = mwl.Context(caller=caller, zone=zone)
    plan = prepared.plan
    if fast and syntax.is_little_endian:
        # Pending responses go out pre-encoded (worklist.fastfind); pynetdicom sends
        # the final one when this generator ends.
        sender = PendingSender(event)
        implicit = syntax.is_implicit_VR
        for row in rows:
            if event.is_cancelled:
                yield STATUS_CANCEL, None
                return
            if not sender.send(prepared.encode(row, ctx, implicit)):
                return  # aborted or released under us
        event.assoc.dimse.final_direct = sender.all_direct
        return
    for row in rows:
        if event.is_cancelled:
            yield STATUS_CANCEL, None
            return
        if syntax.is_little_endian:
            yield STATUS_PENDING, mwl.encoded_identifier(plan, row, ctx, syntax.is_implicit_VR)
        else:
            yield STATUS_PENDING, mwl.encoding_free_identifier(plan, row, ctx)


class _Undecodable(Exception):
    pass


def _prepared(
    event: evt.Event,
    directory: DeviceDirectory,
    cache: PreparedFinds | None,
    caller: DeviceInfo,
    zone: ZoneInfo,
    syntax: UID,
) -> PreparedFind:
    """The query's SELECT and answer layout, made once per distinct identifier
    (``worklist.prepared``); raises _Undecodable or InvalidMatchingValue."""
    raw = event.request.Identifier
    key = (
        raw.getvalue() if raw is not None else None,
        str(syntax),
        caller,
        str(zone),
        directory.generation,
    )

    def build() -> tuple[mwl.Query, Dataset]:
        try:
            identifier = event.identifier
        except Exception as exc:
            raise _Undecodable from exc
        return mwl.build_query(identifier, caller, directory.get, zone), identifier

    return (cache or PreparedFinds()).get(key, build)


def _audit(caller: DeviceInfo, rows: list[Any], remote_addr: str | None) -> None:
    """One event per answered query: which steps, of which patients, went to which AE.

    Written before the first response leaves: what is recorded is what was disclosed
    (or about to be). One INSERT (plus one for the patient list), no ORM objects.
    """
    record_read(
        Actor(
            Interface.DICOM,
            name=caller.ae_title,
            hospital_id=caller.hospital_id,
            remote_addr=remote_addr,
        ),
        "worklist.find",
        utcnow(),
        (r.patient_id for r in rows),
        entity_type="device",
        entity_id=caller.id,
        appointments=[r.appointment_id for r in rows],
    )


@dataclass
class WorklistServer:
    """A running SCP; ``stop()`` closes it."""

    ae: RadbookAE
    server: ThreadedAssociationServer
    directory: DeviceDirectory

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self, grace: float = 2.0) -> None:
        """Stop listening, let open associations finish for ``grace`` seconds, abort the rest.

        Aborting an association that is already closing trips pynetdicom's state
        machine (Evt15 in Sta13), hence the grace period before ``ae.shutdown()``.
        """
        self.server.shutdown()
        deadline = time.monotonic() + grace
        while self.server.active_associations and time.monotonic() < deadline:
            time.sleep(0.01)
        self.ae.shutdown()


def build_ae(app: Flask, directory: DeviceDirectory) -> RadbookAE:
    ae = RadbookAE(app.config["DICOM_AE_TITLE"], directory)
    # A scanner must call RadBook by its AE title: one set up for another SCP (the PACS)
    # is told so at once rather than being answered as if it had reached that one.
    ae.require_called_aet = True
    ae.maximum_associations = int(app.config.get("DICOM_MAX_ASSOCIATIONS", 50))
    ae.network_timeout = 120
    for sop_class in (
        Verification,
        ModalityWorklistInformationFind,
        ModalityPerformedProcedureStep,
    ):
        ae.add_supported_context(sop_class)
    return ae


def _flag(app: Flask, key: str, default: bool) -> bool:
    value = app.config.get(key)
    if value is None or value == "":
        return default
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def handlers(app: Flask, directory: DeviceDirectory) -> list:
    from worklist import mpps

    return [
        (evt.EVT_CONN_OPEN, handle_open),
        (evt.EVT_REJECTED, handle_rejected),
        (evt.EVT_C_ECHO, handle_echo),
        (
            evt.EVT_C_FIND,
            handle_find,
            # one cache of prepared queries per server, over its own device directory
            [app, directory, _flag(app, "DICOM_FAST_FIND", True), PreparedFinds()],
        ),
        (evt.EVT_N_CREATE, mpps.handle_create, [app, directory]),
        (evt.EVT_N_SET, mpps.handle_set, [app, directory]),
    ]


def start_server(app: Flask, host: str | None = None, port: int | None = None) -> WorklistServer:
    """Start the SCP in a background thread (port 0 picks a free port)."""
    configure_logging(_flag(app, "DICOM_LOG_IDENTIFIERS", False))
    directory = DeviceDirectory(app, float(app.config.get("DICOM_DEVICE_REFRESH_SECONDS", 10)))
    directory.refresh()
    ae = build_ae(app, directory)
    address = (
        host if host is not None else app.config.get("DICOM_HOST", "0.0.0.0"),
        port if port is not None else int(app.config["DICOM_PORT"]),
    )
    # AE.start_server(block=False), with associations that wait for work instead of
    # polling for it (worklist.reactor).
    server = ae.make_server(
        address,
        evt_handlers=handlers(app, directory),
        server_class=ThreadedAssociationServer,
        request_handler=EventDrivenRequestHandler,
    )
    threading.Thread(target=server.serve_forever, name="RadbookDicomServer", daemon=True).start()
    ae._servers.append(server)  # ae.shutdown() stops it
    return WorklistServer(ae=ae, server=server, directory=directory)
