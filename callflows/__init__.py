"""Call flows: the hotline's call scripts as data, the pure engine that walks a
live call through them, and the compliance checks on what staff say and write.

Nothing here imports Flask or a database: ``scripts`` loads and validates the
TOML scripts in ``callflows/scripts/``, ``engine`` runs one call against an
injected clock, and ``compliance`` finds the banned phrases of rule G2.
"""
