"""The call service: every change to a call goes through here, one transaction each.

Callers use it as ``from callflows import services as calls`` and
``calls.submit(...)``; the functions live in one module per concept:

* ``context`` — :class:`CallFlows` (the wiring), the errors
  :class:`TelephonyFailed` and :class:`ReadBackMissing`, finding a call;
* ``numbers`` — reading caller IDs, telling a mobile number;
* ``inbound`` — a call from the first ring to its end: ring, answer,
  requeue, counter visits (W1), end;
* ``script`` — the live script, server-side: load, apply, choose the customer;
* ``provider_events`` — status callbacks, recordings, SMS delivery, transcripts;
* ``submission`` — the call becomes a contact and a case, in one transaction;
* ``outbound`` — call-backs and the case-number SMS, each attempt written first;
* ``queries`` — calls ringing, calls to call back, the last attempts;
* ``caller`` and ``flags`` — who is calling, and the G2 flags of staff text.

Refusals are hotline's :class:`~hotline.services.ServiceError` subclasses,
carrying an HTTP status and the field at fault; when one is raised nothing has
been written. Live updates go to the operators only after the commit.
"""

from __future__ import annotations

from callflows.services.context import (
    CALL_TAKERS,
    OPERATORS_ROOM,
    CallFlows,
    Emitter,
    ReadBackMissing,
    TelephonyFailed,
)
from callflows.services.inbound import answer, end_call, requeue, ring, start_counter_visit
from callflows.services.numbers import is_mobile, read_number
from callflows.services.outbound import AttemptView, call_back, case_sms_body, send_case_sms
from callflows.services.provider_events import (
    attach_transcript,
    fallback_sequence,
    record_recording,
    record_sms_status,
    record_status,
)
from callflows.services.queries import is_ended, last_attempts, missed_calls, waiting_calls
from callflows.services.script import apply_script, choose_customer, load_script
from callflows.services.submission import SubmitForm, SubmitResult, promised_text, submit

__all__ = [
    "CALL_TAKERS",
    "OPERATORS_ROOM",
    "AttemptView",
    "CallFlows",
    "Emitter",
    "ReadBackMissing",
    "SubmitForm",
    "SubmitResult",
    "TelephonyFailed",
    "answer",
    "apply_script",
    "attach_transcript",
    "call_back",
    "case_sms_body",
    "choose_customer",
    "end_call",
    "fallback_sequence",
    "is_ended",
    "is_mobile",
    "last_attempts",
    "load_script",
    "missed_calls",
    "promised_text",
    "read_number",
    "record_recording",
    "record_sms_status",
    "record_status",
    "requeue",
    "ring",
    "send_case_sms",
    "start_counter_visit",
    "submit",
    "waiting_calls",
]
