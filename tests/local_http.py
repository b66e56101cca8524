"""A static HTTP server on 127.0.0.1 standing in for a remote (the release, a mirror): it serves one folder and
counts the GETs per file. Tests never touch the network; proxies are bypassed with :func:`no_proxy_env`."""

from __future__ import annotations

import collections
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class FolderServer:
    """``with FolderServer(folder) as server:`` serves ``folder`` at ``server.url`` (ends with ``/``)."""

    def __init__(self, folder: Path):
        self.gets: collections.Counter = collections.Counter()
        gets = self.gets

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                gets[self.path.lstrip("/")] += 1
                super().do_GET()

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> "FolderServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def no_proxy_env(env: dict) -> dict:
    """``env`` without proxy variables and with ``no_proxy=*``, so 127.0.0.1 is reached directly."""
    out = {k: v for k, v in env.items() if k not in PROXY_VARS}
    out.update(no_proxy="*", NO_PROXY="*")
    return out
