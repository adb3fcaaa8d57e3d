"""A real PACS peer for the tests: Debian's Orthanc on free DICOM and HTTP ports of
127.0.0.1, with its own temporary configuration and storage; studies go in through its
REST API, as a community hospital's PACS pushing them to the hub's would leave them."""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.faults.harness import free_port

ORTHANC = "/usr/sbin/Orthanc"
AE_TITLE = "HUB_PACS"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


class Orthanc:
    def __init__(self, workdir: Path):
        self.dicom_port = free_port()
        self.http_port = free_port()
        storage = workdir / "storage"
        storage.mkdir()
        config = {
            "Name": "RadBookTestPACS",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "DicomAet": AE_TITLE,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [],
            "DicomAlwaysAllowFind": True,
            "DicomCheckCalledAet": True,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "DefaultEncoding": "Utf8",
        }
        path = workdir / "orthanc.json"
        path.write_text(json.dumps(config))
        self.log = (workdir / "orthanc.log").open("wb")
        self.process = subprocess.Popen([ORTHANC, str(path)], stdout=self.log, stderr=self.log)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("Orthanc exited at start")
            try:
                self.rest("GET", "/system")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("Orthanc did not start")

    def rest(self, method: str, path: str, body: object = None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def store(
        self,
        *,
        patient_id: str,
        name: str,
        birth_date: str = "",
        sex: str = "",
        issuer: str = "",
        accession: str = "",
        study_uid: str | None = None,
        modality: str = "CR",
        series: int = 1,
        images: int = 1,
    ) -> str:
        """Store a study of ``series`` × ``images`` instances; returns its Study UID."""
        study_uid = study_uid or generate_uid()
        for _s in range(series):
            series_uid = generate_uid()
            for _i in range(images):
                self.rest("POST", "/instances", raw=self._instance(
                    patient_id, name, birth_date, sex, issuer, accession, study_uid,
                    series_uid, modality,
                ))  # fmt: skip
        return study_uid

    @staticmethod
    def _instance(
        patient_id, name, birth_date, sex, issuer, accession, study_uid, series_uid, modality
    ) -> bytes:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientID = patient_id
        if issuer:
            ds.IssuerOfPatientID = issuer
        ds.PatientName = name
        ds.PatientBirthDate = birth_date
        ds.PatientSex = sex
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.SOPClassUID = CR_IMAGE_STORAGE
        ds.Modality = modality
        ds.AccessionNumber = accession
        ds.StudyDate = "20261101"
        ds.StudyDescription = "Chest PA"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return out.getvalue()

    def patient_id_of(self, study_uid: str) -> str:
        study = self._study(study_uid)
        return study["PatientMainDicomTags"]["PatientID"]

    def _study(self, study_uid: str) -> dict:
        found = self.rest(
            "POST", "/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}}
        )
        return self.rest("GET", f"/studies/{found[0]}")

    def change_patient_id(self, old_id: str, new_id: str) -> None:
        """What the PACS does on an ADT merge or identifier change: every study of the
        patient ``old_id`` is filed under ``new_id`` (UIDs kept)."""
        for patient in self.rest(
            "POST", "/tools/find", {"Level": "Patient", "Query": {"PatientID": old_id}}
        ):
            self.rest(
                "POST",
                f"/patients/{patient}/modify",
                {
                    "Replace": {"PatientID": new_id},
                    "Keep": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
                    "Force": True,
                    "KeepSource": False,
                },
            )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
