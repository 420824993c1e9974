"""A local HTTP server that answers as Brevo's transactional SMS API is documented to:
`POST /v3/transactionalSMS/send` with the `api-key` header and a JSON body {sender, recipient,
content, type} → 201 {"messageId": n}; a wrong key → 401 {"code": "unauthorized", "message":
"Key not found"}; no credits left → 402 {"code": "not_enough_credits", …}; a server error → 500;
`GET /v3/account` → 200 with the account. `mode` chooses the answer; "slow" never answers within
the client's timeout."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "xkeysib-test-0123456789abcdef"


class FakeBrevo:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict] = []  # every request received: path, key and body
        self.accepted: list[dict] = []  # the SMS it accepted (201): what reached the phones
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                if fake.mode == "slow":
                    time.sleep(3)
                    return True
                if self.headers.get("api-key") != KEY or fake.mode == "bad_key":
                    self._answer(401, {"code": "unauthorized", "message": "Key not found"})
                    return True
                if fake.mode == "no_credits":
                    self._answer(402, {"code": "not_enough_credits", "message": "Not enough credits"})
                    return True
                if fake.mode == "server_error":
                    self._answer(500, {"code": "internal_error", "message": "Internal error"})
                    return True
                return False

            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/v3/account":
                    return self._answer(404, {"code": "not_found", "message": "Not found"})
                if not self._refused():
                    self._answer(200, {"email": "centre@example.org", "companyName": "Centre DALIA"})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                fake.requests.append({"path": self.path, "api-key": self.headers.get("api-key"), **body})
                if self.path != "/v3/transactionalSMS/send":
                    return self._answer(404, {"code": "not_found", "message": "Not found"})
                if self._refused():
                    return
                if not body.get("sender") or not body.get("recipient") or not body.get("content"):
                    return self._answer(
                        400,
                        {
                            "code": "missing_parameter",
                            "message": "sender, recipient and content are required",
                        },
                    )
                fake.accepted.append(body)
                self._answer(201, {"messageId": 1511882900176220 + len(fake.requests)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v3"

    @property
    def sent(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/v3/transactionalSMS/send"]

    def __enter__(self) -> FakeBrevo:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
