"""The WSGI entry point for a production server: ``hotline.wsgi:app``."""

from hotline.app import create_app

app = create_app()
