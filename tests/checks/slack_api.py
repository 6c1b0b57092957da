"""A minimal local server speaking the Slack Web API's chat.postMessage (records every payload)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest


class _SlackHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = json.loads(body or "{}")
        else:
            payload = dict(parse_qsl(body))
        if self.path.rstrip("/").endswith("chat.postMessage"):
            self.server.messages.append(payload)
            reply = {"ok": True, "channel": payload.get("channel"), "ts": f"{len(self.server.messages)}.000"}
        else:
            reply = {"ok": False, "error": "unknown_method"}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def slack_api():
    """``(base_url, messages)``: point ``slack_sdk.WebClient(base_url=...)`` at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/", server.messages
    finally:
        server.shutdown()
        server.server_close()
