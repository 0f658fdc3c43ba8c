"""A lenient upstream for guichet's tests: Python's own HTTP server (http.server), which accepts
any request-target, routing it the way Werkzeug (Flask's development server, gunicorn apps)
does: the target is split with urllib, its path percent-decoded, and routed as
"/" + path.lstrip("/"). This is what the issue's bypass was found against.

Usage: python3 lenient_upstream.py LOG_FILE
Prints the port it listens on (127.0.0.1), then serves until killed. Every request appends its
raw target to LOG_FILE (one line each) and is answered 200 with JSON: method, the raw target,
the routed path, and the headers received (names lowercased, in order). Every answer carries
`X-Lenient-Upstream: 1`, so a test knows the application answered, not guichet.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LOG = open(sys.argv[1], "a", encoding="utf-8", errors="backslashreplace")
LOCK = threading.Lock()


def routed(target):
    url = urlsplit(target)
    # Werkzeug's make_environ: a netloc without a scheme was the first path segment.
    if not url.scheme and url.netloc:
        path = "/" + url.netloc + url.path
    else:
        path = url.path
    return "/" + unquote(path).lstrip("/")


class Lenient(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with LOCK:
            LOG.write(self.path + "\n")
            LOG.flush()
        body = json.dumps(
            {
                "method": self.command,
                "target": self.path,
                "routed": routed(self.path),
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Lenient-Upstream", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Lenient)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
