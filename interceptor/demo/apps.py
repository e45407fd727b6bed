"""The demo node's pod programs: small real servers and one client, standard library only.

Each runs as its own process inside a pod's network namespace (``python3 -m interceptor.demo.apps
MODE ...``). They exchange realistic personal data so the map has something to show:

``users PORT``               plain HTTP/1.1 JSON API (``POST /api/users``, ``GET /api/users/{id}``)
``payments PORT CERT KEY``   HTTPS through OpenSSL (Python's ssl): ``POST /v1/charges``
``contacts PORT``            the app of the meshed pod, on its loopback: ``POST /contacts``
``sidecar PORT TARGET KEY``  a sidecar-style proxy named ``linkerd2-proxy``: XORs the bytes on the
                             pod's veth (a stand-in for mTLS), plaintext on the pod's loopback
``analytics PORT``           an "external" vendor outside the cluster range: ``POST /v2/track``
``profiles PORT``            gRPC through grpcio (``grpcapp``): ``/demo.profiles.v1.Profiles/...``
``frontend PLAN_JSON``       the client: calls each service in turn, bounded in rate and time

The Go TLS pod (``kyc``, ``POST /v1/verifications``) is a Go binary, ``goapp/main.go``.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import random
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from interceptor.demo import grpcapp

FIRST = ["Maria", "James", "Aiko", "Lukas", "Fatima", "Carlos", "Olivia", "Noah", "Ingrid", "Ravi"]
LAST = ["Garcia", "Smith", "Tanaka", "Müller", "Haddad", "Silva", "Johnson", "Novak", "Berg", "Patel"]
STREETS = ["Elm Street", "Rue de Rivoli", "Hauptstraße", "Calle Mayor", "Via Roma", "Baker Street"]
CARDS = ["4111111111111111", "5555555555554444", "4012888888881881"]  # test numbers, Luhn-valid
IBANS = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
MAX_RUN_S = 3600.0  # the client stops by itself even if nobody stops it


def person(rng: random.Random, uid: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "id": uid,
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}@example.com".replace("ü", "ue"),
        "phone": f"+1 415 555 {rng.randrange(1000, 9999)}",
        "address": f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
        "birth_date": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
    }


class JsonHandler(BaseHTTPRequestHandler):
    """Keep-alive JSON handler; subclasses answer one path each through ``answer``."""

    protocol_version = "HTTP/1.1"
    rng = random.Random(7)

    def _reply(self, status: int, obj: Any) -> None:
        out = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def _body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:  # noqa: N802 - stdlib hook name
        tail = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/api/users/") and tail.isdigit():
            self._reply(200, person(random.Random(int(tail)), int(tail)))
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
        body = self._body()
        if self.path == "/api/users":
            self._reply(201, {**body, "id": self.rng.randrange(1, 10_000)})
        elif self.path == "/v1/charges":
            self._reply(200, {"id": f"ch_{self.rng.randrange(10**8)}", "status": "succeeded",
                              "card": "**** **** **** " + str(body.get("card_number", ""))[-4:],
                              "receipt_email": body.get("email")})
        else:
            self._reply(202, {"accepted": True})

    def log_message(self, *args: object) -> None:
        pass


def serve(port: int, host: str = "0.0.0.0", tls: ssl.SSLContext | None = None) -> None:
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((host, port), JsonHandler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def xor(data: bytes, key: int) -> bytes:
    """The sidecar stand-in's "encryption" (key 0: none); also used by the live-capture test apps."""
    return bytes(b ^ key for b in data) if key else data


def pump(src: socket.socket, dst: socket.socket, key: int) -> None:
    """Copy src to dst (XORed with key) until either end closes, then close both ways."""
    try:
        while data := src.recv(65536):
            dst.sendall(xor(data, key))
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def name_process(name: str) -> None:
    """Sets /proc/<pid>/comm, as a real pod's program has its own name: mesh detection knows a
    sidecar by it, and the demo's agent reads TLS of ``demo-*`` programs only (not the machine's)."""
    ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def sidecar(port: int, target: int, key: int) -> None:
    name_process("linkerd2-proxy")  # what a real Linkerd's proxy is called
    srv = socket.create_server(("0.0.0.0", port))
    while True:
        conn, _ = srv.accept()
        up = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pump, args=(conn, up, key), daemon=True).start()
        threading.Thread(target=pump, args=(up, conn, key), daemon=True).start()


class XorClient:
    """A keep-alive HTTP/1.1 client whose bytes on the wire are XORed (it talks to the sidecar)."""

    def __init__(self, host: str, port: int, key: int) -> None:
        self.host, self.port, self.key = host, port, key
        self.sock: socket.socket | None = None
        self.buf = bytearray()

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> int:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=5)
            self.buf.clear()
        data = body or b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(data)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(xor(head.encode() + data, self.key))
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head_b, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        lines = head_b.decode("latin-1").split("\r\n")
        length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                       if k.strip().lower() == "content-length"), 0)
        self.buf[:] = rest
        while len(self.buf) < length:
            self._more()
        del self.buf[:length]
        return int(lines[0].split()[1])

    def _more(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("sidecar closed the connection")
        self.buf += xor(chunk, self.key)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer demo-token-not-a-secret"}


def _call(conn: http.client.HTTPConnection | XorClient, method: str, path: str, body: Any = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    if isinstance(conn, XorClient):
        return conn.request(method, path, data, HEADERS)
    conn.request(method, path, data, HEADERS)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def frontend(plan: dict[str, Any]) -> None:
    """Calls every service in turn on keep-alive connections until ``duration_s`` (≤ MAX_RUN_S)."""
    rng = random.Random(plan.get("seed", 1))
    interval = 1.0 / max(0.1, float(plan.get("rate", 5)))
    deadline = time.monotonic() + min(float(plan.get("duration_s", MAX_RUN_S)), MAX_RUN_S)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    def connections() -> dict[str, http.client.HTTPConnection | XorClient]:
        conns: dict[str, http.client.HTTPConnection | XorClient] = {
            "users": http.client.HTTPConnection(plan["users"], 8080, timeout=5),
            "payments": http.client.HTTPSConnection(plan["payments"], 8443, timeout=5, context=insecure),
            "contacts": XorClient(plan["contacts"], 4143, int(plan["key"])),
            "analytics": http.client.HTTPConnection(plan["analytics"], 8080, timeout=5),
        }
        if plan.get("kyc"):  # the Go TLS pod, when the machine has Go
            conns["kyc"] = http.client.HTTPSConnection(plan["kyc"], 8443, timeout=5, context=insecure)
        return conns

    profiles = grpcapp.ProfilesClient(plan["profiles"]) if plan.get("profiles") else None

    conns, i = connections(), 0
    while time.monotonic() < deadline:
        who = person(rng, rng.randrange(1, 10_000))
        calls = [
            ("users", "POST", "/api/users", {k: v for k, v in who.items() if k != "id"}),
            ("users", "GET", f"/api/users/{who['id']}", None),
            ("payments", "POST", "/v1/charges", {"amount": rng.randrange(100, 90_000), "currency": "EUR",
                                                "card_number": rng.choice(CARDS), "cvv": "123",
                                                "expiry": "12/29", "email": who["email"],
                                                "iban": rng.choice(IBANS)}),
            ("contacts", "POST", "/contacts", {"name": who["name"], "email": who["email"], "phone": who["phone"]}),
            ("analytics", "POST", "/v2/track", {"event": "checkout", "email": who["email"],
                                                "ip": f"203.0.113.{rng.randrange(1, 254)}"}),
        ]
        if "kyc" in conns:
            calls.append(("kyc", "POST", "/v1/verifications", {"name": who["name"], "email": who["email"],
                                                               "birth_date": who["birth_date"],
                                                               "passport_number": f"X{rng.randrange(10**7, 10**8)}"}))
        if profiles is not None:
            calls += [("profiles", "grpc", "UpdateProfile", who), ("profiles", "grpc", "GetProfile", who)]
        name, method, path, body = calls[i % len(calls)]
        i += 1
        if profiles is not None and name == "profiles":
            try:
                profiles.call(path, body)
            except profiles.errors:
                pass  # grpcio reconnects by itself
        else:
            try:
                _call(conns[name], method, path, body)
            except (OSError, ValueError, http.client.HTTPException):
                conns[name].close()  # reconnects on the next call
                conns[name] = connections()[name]
        time.sleep(interval)


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    name_process(f"demo-{mode}")  # before any thread starts: the threads inherit it
    if mode in ("users", "analytics"):
        serve(int(args[0]))
    elif mode == "contacts":
        serve(int(args[0]), host="127.0.0.1")
    elif mode == "payments":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args[1], args[2])
        serve(int(args[0]), tls=ctx)
    elif mode == "sidecar":
        sidecar(int(args[0]), int(args[1]), int(args[2]))
    elif mode == "profiles":
        grpcapp.serve(int(args[0]))
    elif mode == "frontend":
        frontend(json.loads(args[0]))
    else:
        raise SystemExit(f"demo apps: unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
