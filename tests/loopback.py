"""A static file server on 127.0.0.1 that serves HTTP range requests and counts the bytes it sends.

Python's own http.server ignores the Range header, but GDAL's /vsicurl/ reads
remote GeoTIFFs through range requests, as it would from a public mirror.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _RangeHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, counter: dict, **kwargs):
        self.counter = counter
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the name is set by the base class
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = _RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            body = data[start : end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with threading.Lock():
            self.counter["bytes"] += len(body)
            self.counter["requests"] += 1
            self.counter["paths"].add(self.path)
            if not match:
                self.counter["whole_files"].append(self.path)


@contextmanager
def serve(folder: str | Path):
    """Serve ``folder`` on a free port of 127.0.0.1 and yield the base URL and a counter.

    The counter has the bytes sent, the number of requests, the paths asked
    for, and the paths sent whole because the request had no Range header.
    """
    counter = {"bytes": 0, "requests": 0, "paths": set(), "whole_files": []}
    handler = partial(_RangeHandler, directory=str(folder), counter=counter)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", counter
    finally:
        server.shutdown()
        server.server_close()
