"""The WSGI entry point for a production server: ``hotline.wsgi:app``.

``hotline serve --production`` runs it under Gunicorn (``hotline.server``);
any WSGI server that gives each request a thread can run it too. In a web
process (not the live-update one) the deadline sweep starts here when
``scheduler_in_process`` is set; one process leads under the PostgreSQL
advisory lock and the others stand by. When it is not set and no scheduler
is seen running, a warning says so at start.
"""

import logging
import os

from dispatch.services.scheduler import announce_sweep_for_server
from hotline.app import create_app
from hotline.web.realtime import ROLE_VARIABLE

app = create_app()
if os.environ.get(ROLE_VARIABLE, "") != "live":
    announce_sweep_for_server(app, echo=logging.getLogger("hotline.wsgi").warning)
