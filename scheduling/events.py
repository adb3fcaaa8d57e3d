"""Domain events, sent by the operations *inside* their transaction, before the commit.

Subscribers (HL7 outbound queue, LINE outbox, ...) only add rows to ``db.session``:
that way an outbound message exists exactly when the change it describes is
committed, and a crash can lose neither. They must not commit, sleep or do network I/O.

Every signal is sent with keyword arguments ``actor``, ``now`` and ``appointment``
(``reschedule`` adds ``previous``, the appointment that was moved).
"""

from blinker import Namespace

_signals = Namespace()

appointment_booked = _signals.signal("appointment-booked")
appointment_rescheduled = _signals.signal("appointment-rescheduled")
appointment_cancelled = _signals.signal("appointment-cancelled")
# status changes after booking (arrived, in progress, completed, no-show, discontinued)
appointment_status_changed = _signals.signal("appointment-status-changed")
request_status_changed = _signals.signal("request-status-changed")  # kwargs: request
study_linked = _signals.signal("study-linked")  # kwargs: study, request
# a hub user confirmed whose study a referral image is (kwargs: prior, a ReferralStudy):
# the HL7 adapter queues the PACS patient update (ADT) in the same transaction
referral_identity_confirmed = _signals.signal("referral-identity-confirmed")
# a radiologist approved a request with a protocol (kwargs: request): outbound HL7/FHIR
request_protocolled = _signals.signal("request-protocolled")
# a closure moved a booking (kwargs: appointment, the new one or the cancelled one, and
# closure), after the reschedule or cancel signals: LINE gives the patient the reason
closure_moved = _signals.signal("closure-moved")
