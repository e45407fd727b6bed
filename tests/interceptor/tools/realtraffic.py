"""Helpers of the real-traffic tests: run recorded clients in a namespace, replay a capture through
``interceptor replay``, ask tshark for its pairs, and compare exchanges.

An ``Exchange`` is the comparable core of a pair: method, target, status and the decoded bodies.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections import Counter as Multiset
from pathlib import Path
from typing import Any, NamedTuple

from interceptor.counternames import undeclared
from interceptor.pairs import Pair
from interceptor.schema import validate_pair
from tests.fixtures.netns import Netns

TOOLS = Path(__file__).parent
REPO = TOOLS.parents[2]


class Exchange(NamedTuple):
    method: str
    target: str
    status: int
    req_body: bytes
    resp_body: bytes

    def short(self) -> str:
        return f"{self.method} {self.target} -> {self.status} ({len(self.req_body)}B/{len(self.resp_body)}B)"


def run_client(ns: Netns, lib: str, host: str, port: int, plan: list[dict[str, Any]]) -> list[Exchange]:
    """Run tools/http_client.py in ``ns``; return what the client sent and received."""
    res = ns.run([sys.executable, str(TOOLS / "http_client.py"), lib, host, str(port)],
                 input=json.dumps(plan), env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    return [Exchange(r["method"], r["target"], r["status"], base64.b64decode(r["req_body"]),
                     base64.b64decode(r["resp_body"])) for r in json.loads(res.stdout)]


def replay(capture: Path, workdir: Path, keep_all: bool = True, extra: list[str] | None = None,
           check: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``interceptor replay CAPTURE --out - --stats FILE [--keep-all]`` as a subprocess (the CLI a
    user runs). Returns (pair records, stats)."""
    stats = workdir / f"{capture.name}.stats.json"
    argv = [sys.executable, "-c", "import sys; from interceptor.cli import main; sys.exit(main())",
            "replay", str(capture), "--out", "-", "--stats", str(stats), *(["--keep-all"] if keep_all else []),
            *(extra or [])]
    res = subprocess.run(argv, capture_output=True, timeout=120, cwd=REPO)
    if check and res.returncode != 0:
        raise AssertionError(f"interceptor replay {capture} exited {res.returncode}: {res.stderr.decode()[-2000:]}")
    records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    for i, rec in enumerate(records):  # every real pair: the one model reads back exactly what it wrote
        assert_round_trips(rec, schema=i < 200)  # (the JSON Schema check costs ~1 ms a pair)
    counts = json.loads(stats.read_text()) if stats.exists() else {}
    assert not undeclared(counts), f"names not in interceptor/counternames.py: {undeclared(counts)}"
    return records, counts


def assert_round_trips(rec: dict[str, Any], schema: bool = True) -> None:
    """record -> Pair.from_record -> to_record gives the same record, and it meets pair.v1.json."""
    if schema:
        validate_pair(rec)
    again = json.loads(Pair.from_record(rec).to_json())
    assert again == rec, f"pair {rec.get('id')}: the record changed in a round trip through the model"


def _body(part: dict[str, Any]) -> bytes:
    text = part.get("body") or ""
    return base64.b64decode(text) if part.get("body_encoding") == "base64" else text.encode()


def exchange_of(record: dict[str, Any]) -> Exchange:
    req, resp = record["request"], record["response"]
    return Exchange(req["method"], req["target"], int(resp["status"]), _body(req), _body(resp))


def drops(stats: dict[str, Any]) -> dict[str, int]:
    return dict(stats.get("dropped", {}))


def count(stats: dict[str, Any], word: str) -> int:
    """Sum of counters whose name contains ``word`` (names are the core's choice)."""
    return sum(v for k, v in stats.get("counts", {}).items() if word in k)


def assert_same(truth: list[Exchange], records: list[dict[str, Any]]) -> None:
    """Every exchange the client made is a pair, byte-exact, and there is no other pair."""
    got = Multiset(exchange_of(r) for r in records)
    want = Multiset(truth)
    missing, extra = want - got, got - want
    if missing or extra:
        raise AssertionError(_diff(missing, extra, len(truth), len(records)))


def assert_subset(truth: list[Exchange], records: list[dict[str, Any]]) -> None:
    """Every pair emitted is one the client made (nothing invented, nothing corrupted). A pair with
    a half flagged ``body_incomplete`` (capture loss inside that body) must be one of them with
    that body's bytes kept in order and nothing else changed."""
    exact = [r for r in records if not _incomplete(r)]
    extra = Multiset(exchange_of(r) for r in exact) - Multiset(truth)
    left = list((Multiset(truth) - Multiset(exchange_of(r) for r in exact)).elements())
    for r in records:
        if _incomplete(r):
            got = exchange_of(r)
            match = next((t for t in left if _partial_of(got, t, r)), None)
            if match is None:
                extra[got] += 1
            else:
                left.remove(match)
    if extra:
        raise AssertionError(_diff(Multiset(), extra, len(truth), len(records)))


def _incomplete(record: dict[str, Any]) -> bool:
    return bool(record["request"].get("body_incomplete") or record["response"].get("body_incomplete"))


def _partial_of(got: Exchange, true: Exchange, record: dict[str, Any]) -> bool:
    if (got.method, got.target, got.status) != (true.method, true.target, true.status):
        return False
    for half, mine, theirs in (("request", got.req_body, true.req_body), ("response", got.resp_body, true.resp_body)):
        if not record[half].get("body_incomplete"):
            if mine != theirs:
                return False
        elif len(mine) > len(theirs) or not _in_order(mine, theirs):
            return False
    return True


def _in_order(part: bytes, whole: bytes) -> bool:
    """``part`` is ``whole`` with some runs of bytes taken out."""
    it = iter(whole)
    return all(b in it for b in part)


def _diff(missing: Multiset, extra: Multiset, n_truth: int, n_got: int) -> str:
    lines = [f"client made {n_truth} exchanges, replay emitted {n_got} pairs"]
    lines += [f"  missing: {e.short()} x{n}" for e, n in list(missing.items())[:10]]
    lines += [f"  unexpected: {e.short()} x{n} body={e.resp_body[:80]!r}" for e, n in list(extra.items())[:10]]
    return "\n".join(lines)


# -- tshark ---------------------------------------------------------------------------------------
def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def tshark_pairs(capture: Path) -> list[Exchange]:
    """The pairs tshark finds: each response with ``http.request_in`` whose request frame holds exactly
    one request (tshark merges requests pipelined in one segment and cannot pair them)."""
    fields = ["frame.number", "http.request.method", "http.request.uri", "http.response.code",
              "http.request_in", "http.file_data"]
    argv = ["tshark", "-r", str(capture), "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "http",
            "-T", "json", *sum((["-e", f] for f in fields), [])]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise AssertionError(f"tshark failed: {res.stderr[-1000:]}")
    frames = {}
    for pkt in json.loads(res.stdout or "[]"):
        layers = pkt["_source"]["layers"]
        frames[int(layers["frame.number"][0])] = layers
    out = []
    for layers in frames.values():
        if "http.response.code" not in layers or "http.request_in" not in layers:
            continue
        req = frames.get(int(layers["http.request_in"][0]))
        if req is None or len(req.get("http.request.method", [])) != 1:
            continue
        status = int(layers["http.response.code"][0])
        # A HEAD/204/304 response has no body; tshark's file_data there would belong to nothing.
        out.append(Exchange(req["http.request.method"][0], req["http.request.uri"][0], status,
                            _tshark_body(req), _tshark_body(layers)))
    return out


def _tshark_body(layers: dict[str, Any]) -> bytes:
    data = layers.get("http.file_data", [""])
    return data[0].encode() if len(data) == 1 else b""


def assert_covers_tshark(capture: Path, records: list[dict[str, Any]], distinct: bool = False) -> int:
    """Every pair tshark finds, we find (same method, target, status, bodies). Returns tshark's count.
    ``distinct``: compare sets (tshark emits a pair again for retransmitted data)."""
    theirs = Multiset(tshark_pairs(capture))
    if distinct:
        theirs = Multiset(set(theirs))
    ours = Multiset(exchange_of(r) for r in records)
    missing = theirs - ours
    if missing:
        raise AssertionError(f"tshark found {sum(theirs.values())} pairs, we miss {sum(missing.values())}:\n"
                             + "\n".join(f"  {e.short()}" for e in list(missing)[:10]))
    return sum(theirs.values())


# -- Go ---------------------------------------------------------------------------------------------
GO = Path("/usr/local/go/bin/go")
GO_CACHE = Path("/var/cache/privacy-sensor/realtraffic")


def goapp_binary() -> Path | None:
    """tools/goapp built once (cached by a hash of its source), or None without a Go toolchain."""
    import hashlib

    src = TOOLS / "goapp" / "main.go"
    go = GO if GO.exists() else (Path(shutil.which("go")) if shutil.which("go") else None)
    if go is None:
        return None
    binary = GO_CACHE / f"goapp-{hashlib.sha256(src.read_bytes()).hexdigest()[:12]}"
    if not binary.exists():
        GO_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_suffix(f".{os.getpid()}.tmp")  # two pytest processes may build at once (scripts/test.sh)
        env = {**os.environ, "GO111MODULE": "off", "GOCACHE": str(GO_CACHE / "gocache")}
        subprocess.run(["nice", str(go), "build", "-o", str(tmp), str(src)], check=True, env=env,
                       capture_output=True, timeout=600)
        tmp.replace(binary)
    return binary


def go_client(ns: Netns, binary: Path, host: str, port: int, n: int) -> list[Exchange]:
    res = ns.run([str(binary), "client", host, str(port), str(n)], timeout=60)
    return [Exchange(r["method"], r["target"], r["status"], base64.b64decode(r["req_body"]),
                     base64.b64decode(r["resp_body"])) for r in json.loads(res.stdout)]
