"""Call flows: from the first ring to a case number, on the standard's wording.

The pure core imports neither Flask nor a database: ``scripts`` loads and
validates the TOML scripts in ``callflows/scripts/``, ``engine`` runs one
call against an injected clock, ``compliance`` finds the banned phrases of
rule G2, and ``live`` keeps a live call's script session as data between
requests.

Around it: ``models`` (calls, status events, compliance flags, outbound
attempts), ``telephony`` (one port, two adapters: the simulator and Twilio),
``calls`` (the call service: ring, answer, script, submit, end, call back),
``caller`` (who is calling: accounts, arrears, outages, similar cases),
``flags`` (G2 flags stored with the text they were found in), and the web
edges ``console`` (the operator console and the call log),
``twilio_voice`` (Twilio's webhooks) and ``simulator``. ``bootstrap`` wires
them into the application at start-up.
"""
