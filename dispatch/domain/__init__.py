"""The dispatch center's rules and value objects: pure Python, no Flask, no database."""
