"""A stand-in model server for the kind e2e samples: no accelerator, no model, but the contract a
Neuron serving container keeps with Kubernetes. It listens on $PORT (8000), answers /healthz,
and answers /v1/infer with the plan the operator rendered into its environment (NEURON_PLAN_*),
so a test can tell which plan a pod runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, {"status": "ok"})
        elif self.path.startswith("/v1/infer"):
            self._infer()
        else:
            self._reply(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/v1/infer"):
            self._infer()
        else:
            self._reply(404, {"error": f"no route {self.path}"})

    def _infer(self) -> None:
        plan = {k: v for k, v in os.environ.items() if k.startswith("NEURON_")}
        self._reply(200, {"pod": os.environ.get("HOSTNAME", ""), "plan": plan, "outputs": [0.0]})

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    server = ThreadingHTTPServer(("", int(os.environ.get("PORT", "8000"))), Handler)
    # A pod's deletion sends SIGTERM: stop at once, as a server that drains nothing would.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
