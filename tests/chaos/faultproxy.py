"""A mitmproxy addon that injects API faults between the operator and kube-apiserver.

Run by mitmdump in reverse-proxy mode (tests/chaos/harness.py starts it); it never imports the
project. The tests write the rules to a JSON file; the addon rereads it whenever it changes:

    {"seed": 1, "rules": [
      {"id": "F2", "methods": ["PATCH"], "path": "deployments|/status$", "watch": false,
       "action": "respond", "status": 409, "probability": 0.3},
      {"id": "F3", "action": "respond", "status": 429, "retry_after": 5, "probability": 0.5},
      {"id": "F5", "path": "neurondeployments", "watch": true, "action": "gone", "limit": 1},
      {"id": "F6", "watch": true, "action": "stall"}]}

Actions: `respond` answers with `status` and a Kubernetes Status body (and Retry-After when
`retry_after` is set) instead of forwarding; `gone` answers a watch with an ERROR event of code
410, as an API server does when the watch's resourceVersion is too old; `stall` forwards the
request but holds every byte of the response from then on, while the rule holds (a silently
stalled watch; the bytes follow with the next chunk after it). A rule matches when every key
it has matches: `methods`, `path` (a regular expression searched in the path), `watch`
(whether the request is a watch). `probability` (default 1) and `limit` (at most this many
injections) bound it.

Every request is logged as one JSON line to the `faults_log` file: when, method, path, watch,
the status the operator saw and the rule that injected it, so tests count requests and writes.
A watch gets a line when it opens, too (`opened`: its path).
"""

from __future__ import annotations

import json
import os
import random
import re
from typing import Any

from mitmproxy import ctx, http

REASONS = {
    403: "Forbidden",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def _status(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "Unknown"),
        "code": code,
    }


class Faults:
    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.injected: dict[str, int] = {}
        self.random = random.Random(0)
        self._mtime = 0.0
        self._log: Any = None

    def load(self, loader: Any) -> None:
        loader.add_option("faults", str, "", "JSON rules file")
        loader.add_option("faults_log", str, "", "JSON-lines request log")

    def configure(self, updated: set[str]) -> None:
        if "faults_log" in updated and ctx.options.faults_log:
            self._log = open(ctx.options.faults_log, "a", buffering=1)  # noqa: SIM115

    def _reload(self) -> None:
        path = ctx.options.faults
        if not path:
            return
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        with open(path) as f:
            config = json.load(f)
        self.rules = list(config.get("rules") or [])
        self.random = random.Random(config.get("seed", 0))
        self.injected = {}

    @staticmethod
    def _watch(flow: http.HTTPFlow) -> bool:
        return flow.request.query.get("watch") in ("true", "1")

    def _matches(self, rule: dict[str, Any], flow: http.HTTPFlow) -> bool:
        if "methods" in rule and flow.request.method not in rule["methods"]:
            return False
        if "path" in rule and not re.search(rule["path"], flow.request.path.split("?")[0]):
            return False
        return not ("watch" in rule and bool(rule["watch"]) != self._watch(flow))

    def _pick(self, flow: http.HTTPFlow, actions: tuple[str, ...]) -> dict[str, Any] | None:
        self._reload()
        for rule in self.rules:
            if rule.get("action") not in actions or not self._matches(rule, flow):
                continue
            rule_id = str(rule.get("id", "?"))
            if "limit" in rule and self.injected.get(rule_id, 0) >= rule["limit"]:
                continue
            if self.random.random() >= float(rule.get("probability", 1.0)):
                continue
            self.injected[rule_id] = self.injected.get(rule_id, 0) + 1
            return rule
        return None

    def request(self, flow: http.HTTPFlow) -> None:
        rule = self._pick(flow, ("respond", "gone"))
        if rule is None:
            return
        flow.metadata["fault"] = rule.get("id")
        if rule["action"] == "gone":
            event = {"type": "ERROR", "object": _status(410, "too old resource version")}
            flow.response = http.Response.make(
                200, json.dumps(event).encode() + b"\n", {"Content-Type": "application/json"}
            )
            return
        code = int(rule["status"])
        headers = {"Content-Type": "application/json"}
        if rule.get("retry_after") is not None:
            headers["Retry-After"] = str(rule["retry_after"])
        body = json.dumps(_status(code, f"injected by rule {rule.get('id')}")).encode()
        flow.response = http.Response.make(code, body, headers)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # A watch is logged when it ends, which may be minutes later: note when it opened too.
        if self._log is not None and self._watch(flow):
            line = {"t": flow.request.timestamp_start, "opened": flow.request.path.split("?")[0]}
            self._log.write(json.dumps(line) + "\n")

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if not self._watch(flow):
            return

        held: list[bytes] = []

        def relay(data: bytes) -> list[bytes]:
            # Checked on every chunk, so a stall begins and ends while the watch is open. The
            # bytes are held, not dropped, as a stalled TCP connection holds them: when the
            # stall ends they arrive with the next chunk (or never, if the client gives up).
            # Nothing to send is an empty list: an empty chunk would end a chunked body.
            if data and self._pick(flow, ("stall",)) is not None:
                flow.metadata["fault"] = "stall"
                held.append(data)
                return []
            released = [*held, data] if data else held[:]
            held.clear()
            return [chunk for chunk in released if chunk]

        assert flow.response is not None
        flow.response.stream = relay

    def response(self, flow: http.HTTPFlow) -> None:
        self._record(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._record(flow)

    def _record(self, flow: http.HTTPFlow) -> None:
        if self._log is None:
            return
        line = {
            "t": flow.request.timestamp_start,
            "method": flow.request.method,
            "path": flow.request.path.split("?")[0],
            # A PATCH's kind: an apply, a merge patch, or a JSON patch.
            "contentType": flow.request.headers.get("content-type", ""),
            "watch": self._watch(flow),
            "status": flow.response.status_code if flow.response else None,
            "fault": flow.metadata.get("fault"),
        }
        self._log.write(json.dumps(line) + "\n")


addons = [Faults()]
