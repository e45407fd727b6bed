"""Records examples/sample.pcap: real HTTP traffic between a few "services" on loopback addresses.

Servers are Python's http.server; clients are http.client; tcpdump records the loopback. The
exchanges carry the kinds of personal data the sensor looks for (names, emails, phones, addresses,
card numbers, IBANs) plus noise it must drop (probes, metrics, HTML, errors). Run as root:

    python3 scripts/make_sample_capture.py examples/sample.pcap
"""

from __future__ import annotations

import gzip
import http.client
import http.server
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

SERVICES = {  # name -> (address, port)
    "users-api": ("127.0.0.20", 8080),
    "payments": ("127.0.0.30", 8443),
    "crm": ("127.0.0.40", 9000),
}
CLIENTS = {"frontend": "127.0.0.10", "checkout": "127.0.0.11", "users-api": "127.0.0.20", "kubelet": "127.0.0.1"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes, ctype: str = "application/json", gz: bool = False) -> None:
        if gz:
            body = gzip.compress(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path in ("/healthz", "/metrics"):
            self.reply(200, b"ok\n", "text/plain")
        elif self.path.startswith("/api/users/"):
            uid = self.path.rsplit("/", 1)[1]
            user = {"id": uid, "name": "Maria Garcia", "email": "maria.garcia@example.com",
                    "phone": "+1 415 555 0134", "birth_date": "1988-04-12",
                    "address": {"street": "742 Evergreen Terrace", "city": "Springfield", "zip": "97403"}}
            self.reply(200, json.dumps(user).encode(), gz=True)
        elif self.path == "/":
            self.reply(200, b"<html><body>home</body></html>", "text/html")
        else:
            self.reply(404, b'{"error":"not found"}')

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/charges":
            self.reply(201, json.dumps({"id": "ch_1", "status": "succeeded", "amount": 4200,
                                        "card": {"last4": "1111", "brand": "visa"}}).encode())
        elif self.path == "/contacts":
            self.reply(200, json.dumps({"ok": True, "received": len(body)}).encode())
        else:
            self.reply(201, json.dumps({"id": 1001, "created": True}).encode())


def serve() -> list[http.server.ThreadingHTTPServer]:
    servers = []
    for addr in SERVICES.values():
        srv = http.server.ThreadingHTTPServer(addr, Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    return servers


def call(client: str, service: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> None:
    host, port = SERVICES[service]
    conn = http.client.HTTPConnection(host, port, timeout=5, source_address=(CLIENTS[client], 0))
    conn.request(method, path, body=body, headers=headers or {})
    conn.getresponse().read()
    conn.close()


def traffic() -> None:
    js = {"Content-Type": "application/json"}
    for i in range(3):
        signup = {"name": "John Smith", "email": f"john.smith{i}@example.com", "phone": "+44 20 7946 0958",
                  "password": "hunter2-secret", "address": "221B Baker Street, London NW1 6XE"}
        call("frontend", "users-api", "POST", "/api/users", json.dumps(signup).encode(), js)
        call("frontend", "users-api", "GET", f"/api/users/{1000 + i}")
    charge = {"amount": 4200, "currency": "EUR", "card": {"number": "4111 1111 1111 1111", "cvv": "123",
              "exp": "12/29", "holder": "John Smith"}, "email": "john.smith0@example.com",
              "iban": "DE89370400440532013000"}
    call("checkout", "payments", "POST", "/v1/charges", json.dumps(charge).encode(),
         {**js, "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJl"})
    form = urlencode({"first_name": "Maria", "last_name": "Garcia", "email": "maria.garcia@example.com",
                      "phone": "+1 415 555 0134"}).encode()
    call("users-api", "crm", "POST", "/contacts", form, {"Content-Type": "application/x-www-form-urlencoded"})
    call("kubelet", "users-api", "GET", "/healthz", headers={"User-Agent": "kube-probe/1.30"})
    call("kubelet", "users-api", "GET", "/metrics")
    call("frontend", "users-api", "GET", "/")
    call("frontend", "users-api", "GET", "/api/nothing-here")


def main(out: str) -> None:
    servers = serve()
    cap = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-w", out, "tcp and net 127.0.0.0/8 and "
                            "(port 8080 or port 8443 or port 9000)"], stderr=subprocess.PIPE)
    time.sleep(1.5)  # tcpdump is listening
    traffic()
    time.sleep(0.5)
    cap.terminate()
    cap.wait(timeout=10)
    for srv in servers:
        srv.shutdown()
    print(f"wrote {out} ({Path(out).stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/sample.pcap")
