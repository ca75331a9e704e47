"""The Alembic migrations (``env.py`` and ``versions/``).

This folder is installed as the package ``hotline._migrations`` (see
setup.cfg), so ``hotline db upgrade`` runs from an installed wheel as well as
from a source checkout; ``hotline.settings.MIGRATIONS_DIR`` says where it is.
"""
