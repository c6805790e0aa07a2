"""A real HTTP server on 127.0.0.1 (stdlib ``http.server`` in a thread) that fails every OpenAI-style request.

It answers like api.openai.com does to a wrong key: 401 with a JSON error that echoes the key it was sent, so a test
sees whether that key reaches any output. ``status=400`` answers a bad-request error (one input rejected) instead.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FailingOpenAIServer:
    def __init__(self, status: int = 401) -> None:
        self.status = status
        self.requests: list[str] = []  # request paths, in order
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(self.path)
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if owner.status == 401:
                    error = {
                        "message": f"Incorrect API key provided: {key}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                else:
                    error = {
                        "message": f"This input is not accepted (request made with key {key}).",
                        "type": "invalid_request_error",
                    }
                body = json.dumps({"error": error}).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet test output
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def __enter__(self) -> FailingOpenAIServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
