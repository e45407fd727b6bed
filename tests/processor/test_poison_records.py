"""A record the store cannot take is counted, logged once without its payload and skipped; the good
records of its batch are written; a store outage fails the batch (retried) and the store reconnects.
SQLite and a real PostgreSQL (Debian's server, started in a temporary folder)."""

from __future__ import annotations

import copy
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from interceptor.counters import Counters
from processor.mapstore import MapStore
from processor.service import MapService
from tests.processor.test_mapstore import records
from tests.processor.test_mapstore_postgres import _pg_bin

SECRET = "nul-payload-SECRET"


def poisoned() -> list[dict]:
    recs = records()  # 9 good records
    bad_nul = copy.deepcopy(recs[0])
    bad_nul["pair_id"] = "poison-nul"
    bad_nul["path_template"] = f"/{SECRET}\x00/x"  # PostgreSQL text cannot hold a NUL byte
    bad_nul["edge"] = bad_nul["edge"] + "\x00" + SECRET
    bad_fields = copy.deepcopy(recs[1])
    bad_fields["pair_id"] = "poison-fields"
    bad_fields["detections"] = [{"sample": SECRET}]  # a detection without its type
    return recs[:4] + [bad_nul, bad_fields] + recs[4:]


def check_skips_poison(url: str, capsys: pytest.CaptureFixture[str], expect_rejected: int) -> None:
    counters = Counters()
    store = MapStore(url)
    service = MapService(store, counters)
    batch = poisoned()
    service.apply_records(copy.deepcopy(batch), [f"detections[0]@{i}" for i in range(11)])
    assert store.stats()["seen"] == 9 + (2 - expect_rejected)  # every good record written
    assert counters.dropped("map.store_rejected") == expect_rejected
    err = capsys.readouterr().err
    assert SECRET not in err and err.count("the store refused it") == 1  # logged once, no payload
    assert re.search(r"map: skipped detections\[0\]@[45]: the store refused it \((KeyError|DataError)", err), err
    # the same batch again (redelivery): nothing new, the poison still skipped, no endless retry
    service.apply_records(copy.deepcopy(batch))
    assert store.stats()["seen"] == 9 + (2 - expect_rejected)
    store.close()


def test_sqlite_skips_poison_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_skips_poison(f"sqlite:///{tmp_path}/map.db", capsys, expect_rejected=1)  # SQLite stores a NUL


class Postgres:
    """Debian's PostgreSQL server in a temporary folder, with a password, stoppable and restartable."""

    def __init__(self) -> None:
        pytest.importorskip("psycopg", reason="psycopg: run bash scripts/setup.d/processor.sh")
        self.bindir = _pg_bin()
        self.top = Path(tempfile.mkdtemp(prefix="processor-pg-"))
        self.data = self.top / "data"
        self.data.mkdir()
        shutil.chown(self.top, "postgres")
        shutil.chown(self.data, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        pwfile = self.top / "pw"
        pwfile.write_text("S3cret-pw#1\n")
        shutil.chown(pwfile, "postgres")
        self._pg("initdb", "-D", str(self.data), "-U", "sensor", "--auth=md5", f"--pwfile={pwfile}", "-E", "UTF8")
        self.start()
        self.url = f"postgresql://sensor:S3cret-pw%231@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: str) -> None:
        # Output to a file, not a pipe: a restarted server could inherit the pipe and hold it open.
        out = self.top / f"{tool}.out"
        with open(out, "w") as f:
            proc = subprocess.run(["runuser", "-u", "postgres", "--", str(self.bindir / tool), *args],
                                  stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=180)
        assert proc.returncode == 0, f"{tool}: {out.read_text()}"

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.top / "log"), "-w", "-t", "60", "start",
                 "-o", f"-p {self.port} -k {self.top} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    try:
        yield pg
    finally:
        pg.close()


@pytest.mark.slow
def test_postgres_skips_poison_reconnects_and_hides_the_password(postgres: Postgres,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    check_skips_poison(postgres.url, capsys, expect_rejected=2)
    # an outage: the batch fails as a whole (the loop retries it with backoff), then the store reconnects
    store = MapStore(postgres.url)
    postgres.stop()
    extra = copy.deepcopy(records()[2])
    extra["pair_id"] = "after-outage"
    with pytest.raises(Exception) as outage:
        store.apply_many([extra])
    assert "S3cret" not in str(outage.value)
    postgres.start()
    assert store.apply_many([extra]) == 1 and store.stats()["seen"] == 10
    store.close()
    # the service logs where it serves from without the password
    proc = subprocess.run([sys.executable, "-m", "processor.cli", "map", "--no-kafka", "--db", postgres.url,
                           "--listen", "127.0.0.1:0", "--exit-when-idle", "0.5"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "S3cret" not in proc.stderr and f"postgresql://sensor:***@127.0.0.1:{postgres.port}/postgres" in proc.stderr
    postgres.stop()
    proc = subprocess.run([sys.executable, "-m", "processor.cli", "map", "--no-kafka", "--db", postgres.url,
                           "--listen", "127.0.0.1:0", "--exit-when-idle", "0.5"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "S3cret" not in proc.stderr, proc.stderr
    postgres.start()


def test_full_schema_check_messages_carry_no_payload() -> None:
    import orjson

    from processor.core import Poison, Processor
    from tests.processor.helpers import make_pair

    rec = orjson.loads(make_pair({"a": 1}).to_json())
    rec["request"]["version"] = f"HTTP/{SECRET}"
    with pytest.raises(Poison) as err:
        Processor(full_schema=True).handle(orjson.dumps(rec))
    assert SECRET not in str(err.value) and "request/version: fails pattern" in str(err.value)
