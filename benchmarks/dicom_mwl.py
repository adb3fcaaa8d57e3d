"""DICOM Modality Worklist benchmark: RadBook's SCP against DCMTK's wlmscpfs and Orthanc.

The same ``findscu`` query (one ultrasound station's list for one day: 20 matching
steps, 16 keys) against

* RadBook's SCP (``worklist.server``), the steps in the database,
* DCMTK's ``wlmscpfs`` (single-process mode, incomplete-file check off: its fastest
  settings) and
* Orthanc with its Modality Worklists plugin, both serving the very same entries as
  ``.wl`` files written with pydicom,

with 1,000, 10,000 and 100,000 scheduled steps in total (one database and one
directory of files per size; the other steps are other stations and other days, so
every size answers the same 20, which the script checks against each peer's answer).
Every process of the run, findscu and both peers included, has ``TCP_NODELAY=1`` in its
environment (DCMTK reads it on both ends; without it a peer's answers wait on Nagle's
algorithm and the figures measure that stall, not the work). Two timings:

* per query inside one association: ``findscu --repeat M`` minus ``--repeat 1``,
  divided by M - 1, with the server's CPU per query measured the same way (RadBook: this
  process; a peer: its process, from /proc);
* per fresh association: one ``findscu`` run (process start, association,
  one query, release), median wall time.

All servers run side by side and are measured interleaved, round by round (RadBook at
each size, pynetdicom's own C-FIND path, and each peer at each ``--peer-sizes``), so a
change in the machine's load hits them alike; the figures are medians over the rounds.

    .venv/bin/python benchmarks/dicom_mwl.py                       # SQLite files in a temp dir
    .venv/bin/python benchmarks/dicom_mwl.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1/radbook_dicom_bench
    .venv/bin/python benchmarks/dicom_mwl.py --sizes 1000,10000    # fewer sizes
    .venv/bin/python benchmarks/dicom_mwl.py --radbook-only        # no peers

With ``--database-url``, databases ``<name>_<size>`` are created next to it and emptied.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FINDSCU = shutil.which("findscu") or "/usr/bin/findscu"
WLMSCPFS = shutil.which("wlmscpfs") or "/usr/bin/wlmscpfs"
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
ORTHANC_WORKLISTS = "/usr/share/orthanc/plugins/libModalityWorklists.so"
# Every DICOM process of the run (findscu, wlmscpfs, Orthanc) gets this environment.
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}
BANGKOK = ZoneInfo("Asia/Bangkok")
DAY = date(2026, 11, 23)  # the queried day
TARGET_AE = "MKH_US1"
PER_DAY = 20  # steps per station per day (20-minute slots from 08:00)
STATIONS = [f"MKH_US{i}" for i in range(1, 5)] + ["MKH_CT1", "MKH_CT2", "MKH_MR1", "MKH_DX1"]
MODALITY = {"US": "US", "CT": "CT", "MR": "MR", "DX": "DX"}
PATIENTS = 2000
SPS = "ScheduledProcedureStepSequence[0]."
QUERY_KEYS = [
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "StudyInstanceUID",
    "ReferringPhysicianName",
    SPS + f"ScheduledStationAETitle={TARGET_AE}",
    SPS + f"ScheduledProcedureStepStartDate={DAY:%Y%m%d}",
    SPS + "ScheduledProcedureStepStartTime",
    SPS + "Modality=US",
    SPS + "ScheduledProcedureStepDescription",
    SPS + "ScheduledProcedureStepID",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def station_of(ae: str) -> str:
    return ae.split("_")[1].rstrip("0123456789")


class Plan:
    """Maps each step number to a unique block so every step has its own slot."""

    def __init__(self):
        self._next_block = 0
        self._used: set[tuple[str, date]] = {(TARGET_AE, DAY)}

    def steps(self, start: int, stop: int):
        for i in range(start, stop):
            if i < PER_DAY:
                yield i, TARGET_AE, DAY, i
                continue
            slot = (i - PER_DAY) % PER_DAY
            if slot == 0:
                while True:
                    block = self._next_block
                    self._next_block += 1
                    station = STATIONS[block % len(STATIONS)]
                    k = block // len(STATIONS)
                    offset = (k + 1) // 2 * (1 if k % 2 else -1)
                    key = (station, DAY + timedelta(days=offset))
                    if key not in self._used:
                        self._used.add(key)
                        self._current = key
                        break
            yield i, self._current[0], self._current[1], slot


# ---------------------------------------------------------------------------
# RadBook side
# ---------------------------------------------------------------------------


def make_app(database_url: str):
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = database_url
        DICOM_DEVICE_REFRESH_SECONDS = "3600"

    return create_app(BenchConfig)


def reset_and_migrate(app) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()


def load_network(app) -> dict:
    from sqlalchemy import insert

    from app.extensions import db
    from scheduling.models import (
        Device,
        DicomCharset,
        Hospital,
        HospitalLevel,
        IdentifierType,
        Modality,
        Patient,
        PatientHN,
        Procedure,
        Sex,
    )
    from scheduling.patients import national_id_check_digit

    with app.app_context():
        hub = Hospital(
            code="10707",
            name_th="โรงพยาบาลมหาสารคาม",
            name_en="Mahasarakham Hospital",
            level=HospitalLevel.GENERAL,
            province_th="มหาสารคาม",
            province_en="Maha Sarakham",
            is_hub=True,
        )
        requester = Hospital(
            code="11008",
            name_th="โรงพยาบาลกุดรัง",
            name_en="Kut Rang Hospital",
            level=HospitalLevel.COMMUNITY,
            province_th="มหาสารคาม",
            province_en="Maha Sarakham",
            is_hub=False,
        )
        db.session.add_all([hub, requester])
        for code in MODALITY:
            db.session.add(Modality(code=code, name_th=code, name_en=code))
        db.session.flush()
        procedures = {}
        for code in MODALITY:
            procedures[code] = Procedure(
                code=f"{code}-BENCH",
                name_th=f"ตรวจ {code}",
                name_en=f"{code} examination",
                modality_code=code,
                duration_minutes=20,
            )
            db.session.add(procedures[code])
        devices = {}
        for ae in STATIONS:
            devices[ae] = Device(
                hospital_id=hub.id,
                modality_code=station_of(ae),
                name=ae,
                ae_title=ae,
                station_name=ae,
                charset=DicomCharset.UTF8,
                mwl_filter_by_calling_ae=False,
                allowed_addresses="127.0.0.1",
            )
            db.session.add(devices[ae])
        db.session.flush()
        now = datetime.now(UTC)
        patients = []
        hns = []
        given = ["สมศรี", "บุญเลิศ", "กัญญารัตน์", "ประเสริฐ", "จันทร์เพ็ญ"]
        family = ["ทองดี", "ศรีสุวรรณ", "พลราช", "แก้วกาหลง", "มูลมณี"]
        given_en = ["Somsri", "Bunloet", "Kanyarat", "Prasoet", "Chanphen"]
        family_en = ["Thongdi", "Sisuwan", "Phonrat", "Kaeokalong", "Mulmani"]
        for p in range(PATIENTS):
            stem = f"1{p:011d}"
            patients.append(
                dict(
                    id=p + 1,
                    # The hub's own records (its HN): what the worklist hands out.
                    hospital_id=hub.id,
                    id_type=IdentifierType.NATIONAL_ID,
                    id_value=stem + national_id_check_digit(stem),
                    prefix="MRS",
                    given_name_th=given[p % 5],
                    family_name_th=family[(p // 5) % 5],
                    given_name_en=given_en[p % 5],
                    family_name_en=family_en[(p // 5) % 5],
                    romanised_by_staff=False,
                    birth_date=date(1950 + p % 50, 1 + p % 12, 1 + p % 28),
                    sex=Sex.FEMALE,
                    preferred_language="th",
                    created_at=now,
                    updated_at=now,
                )
            )
            hns.append(dict(patient_id=p + 1, hospital_id=hub.id, hn=f"MK{p:06d}"))
        db.session.execute(insert(Patient), patients)
        db.session.execute(insert(PatientHN), hns)
        db.session.commit()
        return {
            "hub": hub.id,
            "requester": requester.id,
            "devices": {ae: d.id for ae, d in devices.items()},
            "procedures": {code: p.id for code, p in procedures.items()},
        }


def add_steps(app, ids: dict, plan: Plan, start: int, stop: int) -> None:
    from sqlalchemy import insert, text

    from app.extensions import db
    from scheduling.models import (
        Appointment,
        AppointmentStatus,
        ImagingRequest,
        Priority,
        RequestStatus,
    )

    now = datetime.now(UTC)
    requests, appointments = [], []
    for i, ae, day, slot in plan.steps(start, stop):
        start_at = datetime.combine(day, dtime(8, 0), tzinfo=BANGKOK) + timedelta(minutes=20 * slot)
        past = day < DAY
        requests.append(
            dict(
                id=i + 1,
                placer_order_number=f"P{i:07d}",
                requesting_hospital_id=ids["requester"],
                hub_hospital_id=ids["hub"],
                patient_id=i % PATIENTS + 1,
                procedure_id=ids["procedures"][station_of(ae)],
                priority=Priority.ROUTINE,
                status=RequestStatus.COMPLETED if past else RequestStatus.SCHEDULED,
                indication="",
                requesting_clinician="นพ.สมชาย ใจดี",
                created_at=now,
                updated_at=now,
            )
        )
        appointments.append(
            dict(
                id=i + 1,
                request_id=i + 1,
                patient_id=i % PATIENTS + 1,
                hub_hospital_id=ids["hub"],
                device_id=ids["devices"][ae],
                start_at=start_at,
                end_at=start_at + timedelta(minutes=20),
                status=AppointmentStatus.COMPLETED if past else AppointmentStatus.BOOKED,
                accession_number=f"1070769{i:06d}",
                study_instance_uid=f"2.25.{10**20 + i}",
                requested_procedure_id=f"1070769{i:06d}",
                sps_id=f"1070769{i:06d}S1",
                appointment_code=f"B{i:07d}",
                created_at=now,
                updated_at=now,
                version=1,
            )
        )
    with app.app_context():
        for chunk in range(0, len(requests), 5000):
            db.session.execute(insert(ImagingRequest), requests[chunk : chunk + 5000])
            db.session.execute(insert(Appointment), appointments[chunk : chunk + 5000])
        db.session.commit()
        db.session.execute(text("ANALYZE"))  # fresh planner statistics on both databases
        db.session.commit()


def write_wl_files(app, directory: Path, start: int, stop: int) -> None:
    """The same steps as DICOM worklist files, as RadBook would answer them in full."""
    from pydicom.dataset import FileMetaDataset

    from app.extensions import db
    from scheduling.models import Appointment
    from worklist import mwl
    from worklist.devices import load_devices

    with app.app_context():
        devices = load_devices()
        stmt = mwl._base_statement().where(Appointment.id > start, Appointment.id <= stop)
        rows = db.session.execute(stmt).all()
    for row in rows:
        ctx = mwl.Context(caller=devices[row.ae_title], zone=BANGKOK)
        ds = mwl.identifier_for(mwl.Dataset(), row, ctx)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = "1.2.276.0.7230010.3.1.0.1"  # DCMTK's worklist
        ds.file_meta.MediaStorageSOPInstanceUID = row.study_instance_uid
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        ds.save_as(directory / f"{row.appointment_id:07d}.wl", enforce_file_format=True)


# ---------------------------------------------------------------------------
# Timing with findscu
# ---------------------------------------------------------------------------


def findscu(port: int, called: str, repeat: int = 1) -> float:
    args = [FINDSCU, "-W", "-aet", TARGET_AE, "-aec", called]
    if repeat > 1:
        args += ["--repeat", str(repeat)]
    for key in QUERY_KEYS:
        args += ["-k", key]
    args += ["127.0.0.1", str(port)]
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, env=NODELAY_ENV, timeout=3600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"findscu failed: {proc.stderr.decode(errors='replace')}")
    return elapsed


def count_matches(port: int, called: str) -> list[str]:
    with tempfile.TemporaryDirectory() as out:
        args = [FINDSCU, "-W", "-aet", TARGET_AE, "-aec", called, "-X", "-od", out]
        for key in QUERY_KEYS:
            args += ["-k", key]
        subprocess.run(
            args + ["127.0.0.1", str(port)],
            capture_output=True,
            check=True,
            env=NODELAY_ENV,
            timeout=3600,
        )
        import pydicom

        return sorted(pydicom.dcmread(p).AccessionNumber for p in Path(out).glob("rsp*.dcm"))


@dataclass
class Figures:
    per_query: float  # wall seconds per query inside one association
    cpu_per_query: float  # the server's CPU seconds per query
    per_association: float  # wall seconds per fresh findscu run


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process: RadBook's server threads
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int):
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    return cpu


def _await_port(proc: subprocess.Popen, port: int, name: str) -> None:
    for _ in range(400):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{name} did not start")


def start_wlmscpfs(directory: Path) -> tuple[subprocess.Popen, int]:
    """wlmscpfs over ``directory`` (which holds WLMSCPFS/*.wl), with TCP_NODELAY=1."""
    port = free_port()
    proc = subprocess.Popen(
        [WLMSCPFS, "-s", "-dfr", "-csk", "-dfp", str(directory), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=NODELAY_ENV,
    )
    _await_port(proc, port, "wlmscpfs")
    return proc, port


def start_orthanc(files: Path, work: Path) -> tuple[subprocess.Popen, int]:
    """Orthanc with its worklist plugin over the .wl files in ``files``, TCP_NODELAY=1."""
    import json

    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "bench",
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "storage"),
        "Plugins": [ORTHANC_WORKLISTS],
        "Worklists": {"Enable": True, "Database": str(files), "FilterIssuerAet": False},
        "DicomAet": "ORTHANC",
        "DicomPort": port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowFindWorklist": True,
        "DicomCheckModalityHost": False,
        "HttpServerEnabled": False,
        "HttpPort": free_port(),
        "RemoteAccessAllowed": False,
        "StorageCompression": False,
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [ORTHANC, str(work / "orthanc.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=NODELAY_ENV,
    )
    _await_port(proc, port, "Orthanc")
    return proc, port


def pg_database(base_url: str, n: int) -> str:
    """``<database>_<n>`` next to the one named, created when missing."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"{url.database}_{n}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(False)


def per_query_sample(port: int, called: str, cpu, repeat: int) -> tuple[float, float]:
    c0 = cpu()
    many = findscu(port, called, repeat)
    c1 = cpu()
    single = findscu(port, called)
    c2 = cpu()
    return (many - single) / (repeat - 1), ((c1 - c0) - (c2 - c1)) / (repeat - 1)


@dataclass
class Target:
    label: str
    port: int
    called: str
    cpu: object  # () -> CPU seconds of the server
    repeat: int


def start_peers(apps: dict, sizes: list[int], work: Path) -> dict[tuple[str, int], tuple]:
    """wlmscpfs and Orthanc for each size, over the same steps as .wl files (each size's
    directory links the smaller size's files and adds its own)."""
    peers: dict[tuple[str, int], tuple] = {}
    done, previous = 0, None
    for n in sizes:
        files = work / "worklists" / str(n) / "WLMSCPFS"
        files.mkdir(parents=True)
        (files / "lockfile").touch()
        t0 = time.perf_counter()
        if previous is not None:
            for old in previous.glob("*.wl"):
                os.link(old, files / old.name)
        write_wl_files(apps[max(apps)], files, done, n)
        done, previous = n, files
        wlm = start_wlmscpfs(files.parent)
        orthanc = start_orthanc(files, work / "orthanc" / str(n))
        peers[("wlmscpfs", n)] = (wlm[0], wlm[1], "WLMSCPFS")
        peers[("Orthanc", n)] = (orthanc[0], orthanc[1], "ORTHANC")
        print(
            f"  N={n:,}: .wl files written in {time.perf_counter() - t0:.1f} s; "
            "wlmscpfs and Orthanc started",
            flush=True,
        )
    return peers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL; one database per size is made next to it (<name>_<size>) "
        "and emptied. Default: SQLite files in a temp dir",
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument(
        "--peer-sizes",
        default="1000,10000",
        help="sizes at which wlmscpfs and Orthanc run too (a peer query at 100,000 takes seconds)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--repeat", type=int, default=200, help="RadBook queries per association")
    parser.add_argument(
        "--peer-seconds",
        type=float,
        default=4.0,
        help="about this long per peer sample (its queries per association follow)",
    )
    parser.add_argument("--radbook-only", action="store_true", help="no peers")
    parser.add_argument(
        "--standard-path",
        type=int,
        default=10000,
        help="also time pynetdicom's own C-FIND path at this size (0: never)",
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    peer_sizes = [] if args.radbook_only else sorted(int(s) for s in args.peer_sizes.split(","))
    if not set(peer_sizes) <= set(sizes):
        raise SystemExit("--peer-sizes must be among --sizes")

    from worklist.server import start_server

    work = Path(tempfile.mkdtemp(prefix="radbook-mwl-bench-"))
    print(
        f"database: {'PostgreSQL' if args.database_url else 'SQLite (WAL)'}; "
        f"load average before: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs",
        flush=True,
    )
    # One database per size, each with exactly N steps (the plan is deterministic, so
    # the first N steps are the same everywhere and every size answers the same 20).
    apps = {}
    for n in sizes:
        t0 = time.perf_counter()
        url = (
            pg_database(args.database_url, n)
            if args.database_url
            else f"sqlite:///{work / f'bench-{n}.sqlite'}"
        )
        apps[n] = make_app(url)
        reset_and_migrate(apps[n])
        add_steps(apps[n], load_network(apps[n]), Plan(), 0, n)
        print(f"  N={n:,}: database ready in {time.perf_counter() - t0:.1f} s", flush=True)

    peers = start_peers(apps, peer_sizes, work) if peer_sizes else {}
    servers = {n: start_server(app, "127.0.0.1", 0) for n, app in apps.items()}
    standard = None
    if args.standard_path in apps:
        app = apps[args.standard_path]
        app.config["DICOM_FAST_FIND"] = "0"  # read when the server starts
        standard = start_server(app, "127.0.0.1", 0)
        app.config["DICOM_FAST_FIND"] = "1"
    try:
        answers = {n: count_matches(srv.port, "RADBOOK") for n, srv in servers.items()}
        if any(len(a) != PER_DAY or a != answers[sizes[0]] for a in answers.values()):
            raise SystemExit(f"RadBook's answers differ between sizes: {answers}")
        for (name, n), (_, port, called) in peers.items():
            if count_matches(port, called) != answers[n]:
                raise SystemExit(f"RadBook and {name} answered differently at {n}")

        targets = [
            Target(f"RadBook {n}", srv.port, "RADBOOK", own_cpu, args.repeat)
            for n, srv in servers.items()
        ]
        if standard is not None:
            targets.append(
                Target("pynetdicom path", standard.port, "RADBOOK", own_cpu, args.repeat)
            )
        for (name, n), (proc, port, called) in peers.items():
            findscu(port, called)  # warm-up
            guess = statistics.median(findscu(port, called) for _ in range(3))
            repeat = max(3, min(args.repeat, int(args.peer_seconds / max(guess, 1e-3))))
            targets.append(Target(f"{name} {n}", port, called, process_cpu(proc.pid), repeat))
        for t in targets:
            if t.called == "RADBOOK":
                findscu(t.port, t.called, 20)  # warm-up
        samples: dict[str, list[tuple[float, float]]] = {t.label: [] for t in targets}
        assoc_samples: dict[str, list[float]] = {t.label: [] for t in targets}
        loads = []
        for round_no in range(args.rounds):
            for t in targets:
                samples[t.label].append(per_query_sample(t.port, t.called, t.cpu, t.repeat))
                assoc_samples[t.label] += [findscu(t.port, t.called) for _ in range(3)]
            loads.append(os.getloadavg()[0])
            print(f"  round {round_no + 1}/{args.rounds}; load average {loads[-1]:.1f}", flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
        if standard is not None:
            standard.stop()
        for proc, _, _ in peers.values():
            proc.terminate()
            proc.wait(timeout=10)

    def figures(label: str) -> Figures:
        if label not in samples:
            return Figures(float("nan"), float("nan"), float("nan"))
        return Figures(
            statistics.median(w for w, _ in samples[label]),
            statistics.median(c for _, c in samples[label]),
            statistics.median(assoc_samples[label]),
        )

    print()
    print(
        f"Same findscu query ({PER_DAY} matches, {len(QUERY_KEYS)} keys), TCP_NODELAY=1 on "
        f"every process; all servers side by side, interleaved, median of {args.rounds} "
        f"rounds (RadBook {args.repeat} queries per association); load average during the "
        f"rounds {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs"
    )
    print()
    print(
        "| steps | RadBook ms/query | RadBook server CPU ms/query | wlmscpfs ms/query (CPU) "
        "| Orthanc ms/query (CPU) | RadBook faster than wlmscpfs / Orthanc "
        "| ms/association RadBook / wlmscpfs / Orthanc |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        r, w, o = figures(f"RadBook {n}"), figures(f"wlmscpfs {n}"), figures(f"Orthanc {n}")
        print(
            f"| {n:,} | {r.per_query * 1000:.2f} | {r.cpu_per_query * 1000:.2f} "
            f"| {w.per_query * 1000:.1f} ({w.cpu_per_query * 1000:.1f}) "
            f"| {o.per_query * 1000:.1f} ({o.cpu_per_query * 1000:.1f}) "
            f"| {w.per_query / r.per_query:.0f}× / {o.per_query / r.per_query:.0f}× "
            f"| {r.per_association * 1000:.1f} / {w.per_association * 1000:.1f} / "
            f"{o.per_association * 1000:.1f} |"
        )
    if standard is not None:
        f = figures("pynetdicom path")
        print()
        print(
            f"pynetdicom's own C-FIND path (DICOM_FAST_FIND=0) at {args.standard_path:,}: "
            f"{f.per_query * 1000:.2f} ms/query, CPU {f.cpu_per_query * 1000:.2f} ms/query"
        )
    if len(sizes) > 1:
        first, last = figures(f"RadBook {sizes[0]}"), figures(f"RadBook {sizes[-1]}")
        print()
        print(
            f"RadBook {sizes[-1]:,} vs {sizes[0]:,}: {last.per_query / first.per_query:.2f}× "
            f"wall, {last.cpu_per_query / first.cpu_per_query:.2f}× CPU; targets: ≤ 3 ms "
            "server CPU per query, ≥ 150× the peers at 10,000 and ≥ 30× at 1,000"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
