"""Interfaces and addresses of the current network namespace over rtnetlink, without ``ip``.

Two dump requests (RTM_GETLINK, RTM_GETADDR) on a NETLINK_ROUTE socket; the replies are parsed
with ``struct``. Called inside a pod's namespace through ``netns.run_in_netns``, this replaces an
``ip -j`` process per namespace per scan. Only the attributes discovery needs are decoded.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_LINKINFO, IFLA_LINK_NETNSID = 1, 3, 4, 5, 18, 37
IFLA_INFO_KIND = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFF_UP, IFF_LOOPBACK = 0x1, 0x8

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
MAX_DUMP_BYTES = 16 << 20  # a namespace with this much link/address data is not a pod


@dataclass(slots=True)
class Link:
    index: int
    name: str
    kind: str = ""  # veth, bridge, ... ("" for plain devices such as lo)
    mac: str = ""
    mtu: int = 0
    up: bool = False
    loopback: bool = False
    peer_index: int = 0  # IFLA_LINK: the ifindex of a veth's peer, in the peer's namespace
    peer_netnsid: int | None = None  # IFLA_LINK_NETNSID: the peer lives in another namespace
    addresses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}


def _attrs(buf: bytes, off: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= end:
        length, kind = _RTATTR.unpack_from(buf, off)
        if length < 4:
            break
        out[kind & 0x3FFF] = buf[off + 4 : off + length]
        off += (length + 3) & ~3
    return out


def _dump(sock: socket.socket, msg_type: int, family_body: bytes, seq: int) -> list[tuple[int, bytes]]:
    """Send one dump request; return (type, payload) of every reply message."""
    hdr = _NLMSGHDR.pack(_NLMSGHDR.size + len(family_body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.send(hdr + family_body)
    out: list[tuple[int, bytes]] = []
    total = 0
    while total < MAX_DUMP_BYTES:
        data = sock.recv(1 << 16)
        total += len(data)
        off = 0
        while off + _NLMSGHDR.size <= len(data):
            length, kind, _flags, rseq, _pid = _NLMSGHDR.unpack_from(data, off)
            if length < _NLMSGHDR.size:
                return out
            if rseq == seq:
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", data, off + _NLMSGHDR.size)
                    if err:
                        raise OSError(-err, "rtnetlink dump failed")
                else:
                    out.append((kind, data[off + _NLMSGHDR.size : off + length]))
            off += (length + 3) & ~3
    raise OSError(0, "rtnetlink dump larger than the limit")


def _mac(raw: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in raw) if raw else ""


def _parse_link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload, 0)
    attrs = _attrs(payload, _IFINFOMSG.size, len(payload))
    kind = ""
    if IFLA_LINKINFO in attrs:
        info = _attrs(attrs[IFLA_LINKINFO], 0, len(attrs[IFLA_LINKINFO]))
        kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode(errors="replace")
    nsid = attrs.get(IFLA_LINK_NETNSID)
    return Link(
        index=index,
        name=attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace"),
        kind=kind,
        mac=_mac(attrs.get(IFLA_ADDRESS)),
        mtu=struct.unpack("=I", attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else 0,
        up=bool(flags & IFF_UP),
        loopback=bool(flags & IFF_LOOPBACK),
        peer_index=struct.unpack("=i", attrs[IFLA_LINK])[0] if IFLA_LINK in attrs else 0,
        peer_netnsid=struct.unpack("=i", nsid)[0] if nsid else None,
    )


def _parse_addr(payload: bytes) -> tuple[int, str] | None:
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(payload, 0)
    attrs = _attrs(payload, _IFADDRMSG.size, len(payload))
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return index, f"{socket.inet_ntop(family, raw)}/{prefixlen}"


def list_links() -> list[Link]:
    """Every interface of the calling thread's namespace, with its addresses."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.settimeout(2.0)
        sock.bind((0, 0))
        links = {
            lk.index: lk
            for kind, p in _dump(sock, RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), 1)
            if kind == RTM_NEWLINK
            for lk in [_parse_link(p)]
        }
        for kind, p in _dump(sock, RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), 2):
            parsed = _parse_addr(p) if kind == RTM_NEWADDR else None
            if parsed and parsed[0] in links:
                links[parsed[0]].addresses.append(parsed[1])
    return sorted(links.values(), key=lambda lk: lk.index)
