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
* ``queries`` — calls ringing, calls to call back, the last attempts, one
  call with its flags, attempts and case, the departments;
* ``call_log`` — the supervisors' call log and the review of one call;
* ``caller`` and ``flags`` — who is calling, and the G2 flags of staff text.

Refusals are hotline's :class:`~hotline.services.ServiceError` subclasses,
carrying an HTTP status and the field at fault; when one is raised nothing has
been written. Live updates go to the operators only after the commit.

The vocabulary web code needs from the tables (:class:`Provider`,
:class:`AttemptKind`) is re-exported here.
"""

from __future__ import annotations

from callflows.models import AttemptKind, Provider
from callflows.services.call_log import (
    CallLogFilter,
    CallLogPage,
    CallReview,
    call_log_page,
    call_review,
)
from callflows.services.caller import find_customer
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
from callflows.services.outbound import (
    AttemptView,
    call_back,
    case_sms_body,
    record_call_back_outcome,
    send_case_sms,
)
from callflows.services.provider_events import (
    attach_transcript,
    fallback_sequence,
    record_recording,
    record_sms_status,
    record_status,
)
from callflows.services.queries import (
    call_attempts,
    call_case,
    call_flags,
    departments,
    find_call,
    is_ended,
    last_attempts,
    live_call_id,
    missed_calls,
    outbound_call_attempt,
    simulated_call,
    waiting_calls,
)
from callflows.services.script import apply_script, choose_customer, load_script
from callflows.services.submission import SubmitForm, SubmitResult, promised_text, submit

__all__ = [
    "CALL_TAKERS",
    "OPERATORS_ROOM",
    "AttemptKind",
    "AttemptView",
    "CallFlows",
    "CallLogFilter",
    "CallLogPage",
    "CallReview",
    "Emitter",
    "Provider",
    "ReadBackMissing",
    "SubmitForm",
    "SubmitResult",
    "TelephonyFailed",
    "answer",
    "apply_script",
    "attach_transcript",
    "call_attempts",
    "call_back",
    "call_case",
    "call_flags",
    "call_log_page",
    "call_review",
    "case_sms_body",
    "choose_customer",
    "departments",
    "end_call",
    "fallback_sequence",
    "find_call",
    "find_customer",
    "is_ended",
    "is_mobile",
    "last_attempts",
    "live_call_id",
    "load_script",
    "missed_calls",
    "outbound_call_attempt",
    "promised_text",
    "read_number",
    "record_call_back_outcome",
    "record_recording",
    "record_sms_status",
    "record_status",
    "requeue",
    "ring",
    "send_case_sms",
    "simulated_call",
    "start_counter_visit",
    "submit",
    "waiting_calls",
]
