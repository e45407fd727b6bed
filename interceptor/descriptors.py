"""Field names for gRPC messages from user-supplied ``FileDescriptorSet`` files (``grpc.descriptor_sets``).

``protoc --descriptor_set_out=FILE --include_imports`` (or ``buf build -o FILE``) writes one. The
messages are still decoded without a schema (``protobuf``); when a call's method is in a descriptor
set, the numeric keys of its messages are replaced by the field names, recursing into fields whose
type is a message. Values keep their schema-less form (a ``bytes`` field that looked like text stays
text). The set is read with ``protobuf.fields`` (descriptor.proto's field numbers below), so no
protobuf runtime is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interceptor.protobuf import NotProtobuf, fields

MAX_DEPTH = 16


class DescriptorError(ValueError):
    pass


# Plain classes, not dataclasses: this module is imported at every replay start, where creating a
# dataclass costs ~2.5M instructions and generated functions compiled from source.
class Field:
    __slots__ = ("name", "type_name")

    def __init__(self, name: str, type_name: str = "") -> None:
        self.name = name
        self.type_name = type_name  # ".pkg.Message" for message-typed fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return self.name == other.name and self.type_name == other.type_name

    __hash__ = None  # type: ignore[assignment]  # (as the dataclass was)

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type_name={self.type_name!r})"


class Schemas:
    __slots__ = ("messages", "methods")

    def __init__(self, messages: dict[str, dict[int, Field]] | None = None,
                 methods: dict[str, tuple[str, str]] | None = None) -> None:
        self.messages = messages if messages is not None else {}  # ".pkg.Msg" -> number -> field
        self.methods = methods if methods is not None else {}  # "/pkg.Svc/M" -> (input, output)

    def name(self, path: str, request: bool, values: list[Any]) -> list[Any] | None:
        """The messages of a call with field names, or None if the method is not known."""
        types = self.methods.get(path)
        if types is None:
            return None
        type_name = types[0] if request else types[1]
        return [self._named(v, type_name, MAX_DEPTH) for v in values]

    def _named(self, value: Any, type_name: str, depth: int) -> Any:
        msg = self.messages.get(type_name)
        if msg is None or not isinstance(value, dict) or depth <= 0 or "base64" in value and len(value) == 1:
            return value
        out: dict[str, Any] = {}
        for key, v in value.items():
            f = msg.get(int(key)) if key.isdigit() else None
            if f is None:
                out[key] = v
            elif isinstance(v, list):
                out[f.name] = [self._named(x, f.type_name, depth - 1) for x in v]
            else:
                out[f.name] = self._named(v, f.type_name, depth - 1)
        return out


def load(paths: list[str]) -> Schemas | None:
    """Read the descriptor sets; a file that is not one is a one-line error naming it."""
    if not paths:
        return None
    schemas = Schemas()
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise DescriptorError(f"grpc.descriptor_sets: {path}: {e.strerror}") from None
        try:
            for number, _, file in fields(data):
                if number == 1 and isinstance(file, bytes):
                    _file(file, schemas)
        except (NotProtobuf, UnicodeDecodeError) as e:
            raise DescriptorError(f"grpc.descriptor_sets: {path}: not a FileDescriptorSet ({e})") from None
    return schemas


def _file(data: bytes, schemas: Schemas) -> None:
    """FileDescriptorProto: 2 package, 4 message_type, 6 service."""
    package = ""
    messages, services = [], []
    for number, _, value in fields(data):
        if number == 2 and isinstance(value, bytes):
            package = value.decode()
        elif number == 4 and isinstance(value, bytes):
            messages.append(value)
        elif number == 6 and isinstance(value, bytes):
            services.append(value)
    prefix = f".{package}" if package else ""
    for m in messages:
        _message(m, prefix, schemas)
    for svc in services:
        _service(svc, package, schemas)


def _message(data: bytes, prefix: str, schemas: Schemas) -> None:
    """DescriptorProto: 1 name, 2 field, 3 nested_type."""
    parts = fields(data)
    name = next((v.decode() for n, _, v in parts if n == 1 and isinstance(v, bytes)), "")
    full = f"{prefix}.{name}"
    table: dict[int, Field] = {}
    for number, _, value in parts:
        if number == 2 and isinstance(value, bytes):
            f = _field(value)
            if f is not None:
                table[f[0]] = f[1]
        elif number == 3 and isinstance(value, bytes):
            _message(value, full, schemas)
    schemas.messages[full] = table


def _field(data: bytes) -> tuple[int, Field] | None:
    """FieldDescriptorProto: 1 name, 3 number, 5 type (11 = message), 6 type_name."""
    name, number, ftype, type_name = "", 0, 0, ""
    for n, _, v in fields(data):
        if n == 1 and isinstance(v, bytes):
            name = v.decode()
        elif n == 3 and isinstance(v, int):
            number = v
        elif n == 5 and isinstance(v, int):
            ftype = v
        elif n == 6 and isinstance(v, bytes):
            type_name = v.decode()
    if not name or not number:
        return None
    return number, Field(name, type_name if ftype == 11 else "")


def _service(data: bytes, package: str, schemas: Schemas) -> None:
    """ServiceDescriptorProto: 1 name, 2 method (MethodDescriptorProto: 1 name, 2 input, 3 output)."""
    parts = fields(data)
    name = next((v.decode() for n, _, v in parts if n == 1 and isinstance(v, bytes)), "")
    service = f"{package}.{name}" if package else name
    for number, _, value in parts:
        if number != 2 or not isinstance(value, bytes):
            continue
        method = {n: v.decode() for n, _, v in fields(value) if n in (1, 2, 3) and isinstance(v, bytes)}
        if 1 in method:
            schemas.methods[f"/{service}/{method[1]}"] = (method.get(2, ""), method.get(3, ""))
