"""The real application served over real HTTP on a free loopback port, in a thread.

    with LiveServer(app) as server:
        requests.get(server.url + "/api/openapi.json")

Werkzeug's own threaded WSGI server listens on ``127.0.0.1`` port 0 (the
system picks a free port); leaving the ``with`` block stops it and closes the
socket, so nothing is left listening after a test.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"


class LiveServer:
    """A WSGI app listening on a free loopback port until :meth:`stop`."""

    def __init__(self, app: Any, host: str = HOST) -> None:
        self._server: BaseWSGIServer = make_server(host, 0, app, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"live-server-{self.port}",
            daemon=True,
        )

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests, wait for the serving thread and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
