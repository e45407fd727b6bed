"""The map store on a real PostgreSQL server (Debian's), started in a temporary directory."""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor.mapstore import MapStore
from tests.processor.test_mapstore import records

pytestmark = pytest.mark.slow


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries missing: run bash scripts/setup.sh (scripts/setup.d/processor.apt)")
    return Path(found[-1]).parent


@pytest.fixture
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="psycopg: run bash scripts/setup.d/processor.sh")
    bindir = _pg_bin()
    # the server runs as user postgres, which cannot enter pytest's root-only tmp folders
    top = Path(tempfile.mkdtemp(prefix="processor-pg-"))
    data = top / "data"
    data.mkdir()
    shutil.chown(top, "postgres")
    shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_pg = ["runuser", "-u", "postgres", "--"]
    try:
        for cmd in ([str(bindir / "initdb"), "-D", str(data), "-U", "sensor", "--auth=trust", "-E", "UTF8"],
                    [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(top / "log"), "-w", "-t", "60", "start",
                     "-o", f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c fsync=off"]):
            proc = subprocess.run([*as_pg, *cmd], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"{cmd[0]}: {proc.stdout}{proc.stderr}"
        yield f"postgresql://sensor@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)


def test_postgres_store_same_behaviour(postgres_url: str) -> None:
    store = MapStore(postgres_url)
    recs = records()
    assert store.apply_many(recs) == 9
    assert store.apply_many(recs) == 0  # idempotent per pair id
    g = store.graph()
    assert {n["id"] for n in g["nodes"]} == {"shop/frontend", "shop/orders", "payments/payments"}
    edges = {(e["src"], e["dst"], e["method"], e["path"]): e for e in g["edges"]}
    e = edges[("shop/frontend", "shop/orders", "POST", "/orders/{id}")]
    assert e["count"] == 3 and [t["type"] for t in e["types"]] == ["email", "person_name"] and e["sensitivity"] == "low"
    assert edges[("shop/orders", "payments/payments", "POST", "/charges")]["sensitivity"] == "high"
    assert [x["path"] for x in store.graph(dtype="card_number")["edges"]] == ["/charges"]
    store.close()
    # a second service instance sharing the database sees the same map
    again = MapStore(postgres_url)
    assert again.graph() == g and again.stats()["seen"] == 9
    # folding edges into a template works with PostgreSQL's upsert too
    assert again.compact(lambda dst, path: "/pay/{id}" if path == "/charges" else path) == 1
    moved = [x for x in again.graph()["edges"] if x["path"] == "/pay/{id}"]
    assert len(moved) == 1 and moved[0]["count"] == 3 and [t["type"] for t in moved[0]["types"]] == ["card_number"]
    assert moved[0]["fields"][0]["path"] == "card.number"
    again.close()
