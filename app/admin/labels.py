"""Labels for the enums only the admin pages show (msgids; translated when rendered)."""

from scheduling.i18n import N_
from scheduling.models import DicomCharset, PatientIdPolicy

CHARSET_LABELS = {
    DicomCharset.UTF8: N_("UTF-8 (ISO_IR 192): romanised and Thai name"),
    DicomCharset.TIS620: N_("TIS-620 (ISO_IR 166): Thai for older scanners"),
    DicomCharset.ASCII: N_("ASCII (ISO_IR 6): romanised name only"),
}

PATIENT_ID_POLICY_LABELS = {
    PatientIdPolicy.HN: N_("The hub's HN"),
    PatientIdPolicy.NATIONAL_ID: N_("The national ID"),
}
