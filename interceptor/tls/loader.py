"""Loading probes.c with BCC, and the checks that turn every way this can fail into one clear reason.

TLS capture is optional: when it cannot run (no BCC, no BPF permission, no kernel headers, program
rejected) the agent logs one line, counts ``tls.unavailable.<code>`` and goes on capturing packets.
"""

from __future__ import annotations

import logging
import os
import resource
import subprocess
from pathlib import Path
from typing import Any

from interceptor.config import TlsConfig
from interceptor.tls import btf, procfs

log = logging.getLogger(__name__)

PROBES_C = Path(__file__).with_name("probes.c")
MERGED_HEADERS = "/var/cache/privacy-sensor/ebpf/kernel-headers/current"  # scripts/setup.d/run/ebpf.sh
CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
PAGE = 4096


class Unavailable(Exception):
    """TLS capture cannot run here; ``code`` names the reason for the metric."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def effective_caps() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def check_permission() -> None:
    caps = effective_caps()
    has = lambda c: bool(caps >> c & 1)  # noqa: E731
    if not (has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON))):
        raise Unavailable("no_permission", "no BPF permission: needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN "
                          f"(effective capabilities {caps:#x})")


def import_bcc() -> Any:
    try:
        import bcc
    except ImportError as e:
        raise Unavailable("no_bcc", f"python module 'bcc' not importable ({e}); install python3-bpfcc and run "
                          "scripts/setup.d/run/ebpf.sh (never 'pip install bcc')") from None
    return bcc


def kernel_headers(cfg: TlsConfig) -> str | None:
    """The header tree for BCC: the configured one, /lib/modules/<release>/build, or the merged tree
    that setup.d/run/ebpf.sh builds from Debian's split -common/-amd64 packages. None: use BCC's default."""
    if cfg.kernel_headers:
        if not os.path.isdir(cfg.kernel_headers):
            raise Unavailable("no_headers", f"tls.kernel_headers: {cfg.kernel_headers} is not a directory")
        return cfg.kernel_headers
    if os.environ.get("BCC_KERNEL_SOURCE") or os.path.isdir(f"/lib/modules/{os.uname().release}/build"):
        return None
    if os.path.isdir(MERGED_HEADERS):
        return MERGED_HEADERS
    raise Unavailable("no_headers", f"no kernel headers: /lib/modules/{os.uname().release}/build is missing and "
                      f"{MERGED_HEADERS} does not exist (install linux-headers-amd64, run scripts/setup.d/run/ebpf.sh)")


def raise_memlock() -> None:
    """Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; raise it as far as allowed."""
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (hard, hard))
        except (ValueError, OSError):
            pass


def mount_tracefs() -> None:
    """Best effort: libbcc's clean-up of uprobes and tracepoint ids read tracefs."""
    if os.path.isdir("/sys/kernel/tracing") and not os.path.exists("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], capture_output=True, check=False)


def possible_cpus() -> int:
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
        return max(int(part.split("-")[-1]) for part in text.split(",")) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


def ring_pages(nbytes: int) -> int:
    pages = max(1, -(-nbytes // PAGE))
    return 1 << (pages - 1).bit_length()


def prepare(cfg: TlsConfig) -> Any:
    """Check and set up what BCC needs here; returns the ``bcc.BPF`` class. Raises Unavailable."""
    import_bcc()
    check_permission()
    headers = kernel_headers(cfg)
    if headers:
        os.environ["BCC_KERNEL_SOURCE"] = headers
    raise_memlock()
    mount_tracefs()
    from bcc import BPF

    return BPF


def hold_cflags(cfg: TlsConfig) -> list[str]:
    """The struct offsets that let probes.c hold new programs at exec (tls.hold_new_programs), from
    the running kernel's BTF; without BTF the program loads without holding (logged once)."""
    if not cfg.hold_new_programs:
        return []
    if not procfs.in_host_pid_namespace():
        # The kernel stops a program by its host pid and this process would continue it by a pid of
        # its own namespace: another process, or none, so the held program would stay stopped.
        log.warning("tls: not in the host's PID namespace (run with hostPID): new programs are not held "
                    "at exec; a short-lived program's first run may be missed")
        return []
    try:
        return btf.exec_hold_cflags()
    except (OSError, btf.BtfError) as e:
        log.warning("tls: no kernel BTF (%s): new programs are not held at exec; a short-lived program's "
                    "first run may be missed", e)
        return []


def load(cfg: TlsConfig, extra_cflags: tuple[str, ...] = ()) -> Any:
    """Compile and load probes.c; returns the bcc.BPF object. Raises Unavailable with the reason."""
    BPF = prepare(cfg)  # noqa: N806 - a class
    cflags = [f"-DNCPU={possible_cpus()}", f"-DRING_PAGES={ring_pages(cfg.ring_buffer_bytes)}", *extra_cflags]
    cflags += hold_cflags(cfg)
    try:
        return BPF(src_file=str(PROBES_C).encode(), cflags=cflags)
    except Exception as e:  # BCC raises bare Exception for compile and load errors
        text = str(e)
        code = "no_permission" if "not permitted" in text or "Permission" in text else "load_failed"
        if "compile" in text:
            code = "compile_failed"
        raise Unavailable(code, f"BPF program {PROBES_C.name} did not load: {text}") from None
