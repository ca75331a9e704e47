"""Call flows: from the first ring to a case number, on the standard's wording.

``domain/`` is the pure core (no Flask, no database, no telephony):
``scripts`` loads and validates the TOML scripts in ``callflows/scripts/``,
``engine`` walks one call through a script against an injected clock, with
its refusals in ``refusals`` and what the call leaves on record (and how it
is measured against its script) in ``call_record``; ``live`` keeps a live
call's script session as data between requests, and ``compliance`` finds the
banned phrases of rule G2.

``models`` holds calls, status events, compliance flags and outbound
attempts; ``telephony`` is one port with two adapters (the simulator and
Twilio).

``services/`` is the call service, one module per concept behind the
``callflows.services`` facade: ``context`` (the wiring and errors),
``numbers``, ``inbound`` (ring, answer, requeue, counter visits, end),
``script`` (the live script server-side), ``provider_events`` (status,
recordings, SMS delivery, transcripts), ``submission`` (the call becomes a
contact and a case, in one transaction), ``outbound`` (call-backs and the
case-number SMS), ``queries``, ``caller`` (who is calling: accounts,
arrears, outages, similar cases) and ``flags`` (G2 flags stored with the text
they were found in).

``web/`` is the edge: ``console`` (the console's pages and blueprint),
``console_api`` (its JSON API), ``schemas`` (the API's bodies),
``viewmodels`` (what the console shows of a call), ``call_log`` (the
supervisors' call log), ``twilio_voice`` (Twilio's webhooks) and
``simulator``, with their templates and static files. ``bootstrap`` wires
them into the application at start-up.
"""
