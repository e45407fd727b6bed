"""The demo's gRPC pod: a real grpcio server (HTTP/2 cleartext, as inside a mesh or a cluster
network) and the frontend's calls to it. No code generation: the handlers work on raw bytes and the
messages are protobuf wire format written here, so the map shows what a schema-less reader sees
(``/demo.profiles.v1.Profiles/UpdateProfile`` with its fields by number).

grpcio comes with the package's ``demo`` extra (``bash scripts/setup.sh`` installs it); without
it the demo runs without this pod and says so (``available``).
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

SERVICE = "demo.profiles.v1.Profiles"
PORT = 50051

Field = str | int | dict[int, Any]


def available() -> bool:
    try:
        import grpc  # noqa: F401
    except ImportError:
        return False
    return True


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode(fields: dict[int, Field]) -> bytes:
    """Protobuf wire format: ints as varints, strings as UTF-8, dicts as nested messages."""
    out = bytearray()
    for number, value in fields.items():
        if isinstance(value, int):
            out += _varint(number << 3) + _varint(value)
        else:
            data = encode(value) if isinstance(value, dict) else value.encode()
            out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def profile_message(who: dict[str, Any]) -> bytes:
    """A ``Profile``: 1 id, 2 name, 3 email, 4 phone, 5 address {1 street, 2 city}, 6 birth date."""
    return encode({1: int(who["id"]), 2: who["name"], 3: who["email"], 4: who["phone"],
                   5: {1: who["address"], 2: "Springfield"}, 6: who["birth_date"]})


def serve(port: int) -> None:
    import grpc

    def update(request: bytes, context: Any) -> bytes:
        return request + encode({7: 1})  # the stored profile, with 7 version

    def get(request: bytes, context: Any) -> bytes:
        return encode({1: 1, 2: "Aiko Tanaka", 3: "aiko.tanaka@example.com", 4: "+81 3 5555 0142",
                       5: {1: "3-1 Marunouchi", 2: "Tokyo"}, 6: "1987-04-12"})

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {"UpdateProfile": grpc.unary_unary_rpc_method_handler(update),
                "GetProfile": grpc.unary_unary_rpc_method_handler(get)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    server.wait_for_termination()


class ProfilesClient:
    """The frontend's side: one channel (one HTTP/2 connection), reconnected by grpcio itself."""

    def __init__(self, host: str, port: int = PORT) -> None:
        import grpc

        self.errors: tuple[type[BaseException], ...] = (grpc.RpcError,)
        self.channel = grpc.insecure_channel(f"{host}:{port}")
        self.update = self.channel.unary_unary(f"/{SERVICE}/UpdateProfile")
        self.get = self.channel.unary_unary(f"/{SERVICE}/GetProfile")

    def call(self, method: str, who: dict[str, Any]) -> None:
        if method == "UpdateProfile":
            self.update(profile_message(who), timeout=5)
        else:
            self.get(encode({1: int(who["id"])}), timeout=5)

    def close(self) -> None:
        self.channel.close()
