"""The Go TLS pod's binary (goapp/main.go), built with the machine's Go once and cached.

Go is not part of the runtime setup (``bash scripts/setup.sh`` installs no toolchain), so the demo
has this pod only where ``go`` is on the PATH (as on a developer's machine); elsewhere ``GoBuild.why``
says why it is missing. The build runs in the background while the broker starts; the binary is
cached by the digest of its source and of ``go version``, so a later demo starts it at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("goapp") / "main.go"
CACHE = Path(os.environ.get("PRIVACY_SENSOR_CACHE", "/var/cache/privacy-sensor")) / "demo" / "gobin"


@dataclass
class GoBuild:
    binary: Path | None = None  # where the binary is (or will be, once ``proc`` ends)
    proc: subprocess.Popen[bytes] | None = None  # the running build, if not cached
    tmp: Path | None = None  # what the running build writes
    why: str = ""  # why there is no binary (empty while building or when built)

    @classmethod
    def start(cls) -> GoBuild:
        go = shutil.which("go")
        if go is None:
            return cls(why="go not found (Go is not part of the runtime setup; with Go on the PATH the demo adds it)")
        version = subprocess.run([go, "version"], capture_output=True, timeout=30).stdout
        digest = hashlib.sha256(SOURCE.read_bytes() + version).hexdigest()[:16]
        binary = CACHE / digest / "demo-kyc"  # its process name: the agent's TLS scope is demo-*
        if binary.exists():
            return cls(binary=binary)
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_suffix(f".tmp{os.getpid()}")
        # CGO off: a static binary whose crypto/tls is Go's own, as in most Go images
        proc = subprocess.Popen(["nice", go, "build", "-o", str(tmp), str(SOURCE)], cwd=SOURCE.parent,
                                env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": ""}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return cls(binary=binary, proc=proc, tmp=tmp)

    def wait(self, timeout_s: float) -> Path | None:
        """The binary, or None with ``why`` set (build failed or took longer than ``timeout_s``)."""
        if self.why or self.binary is None:
            return None
        if self.proc is not None:
            proc, self.proc = self.proc, None
            try:
                _, err = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.why = f"go build took longer than {timeout_s:.0f} s"
                return None
            if proc.returncode != 0 or self.tmp is None or not self.tmp.exists():
                self.why = "go build failed: " + err.decode(errors="replace").strip()[-300:]
                return None
            self.tmp.rename(self.binary)  # atomic: a demo running beside this one sees all or nothing
        return self.binary
