#!/usr/bin/env bash
# Time from the README's first command to a live map on a FRESH Debian 12: a clean clone of HEAD in
# a privileged podman container made from a debootstrap minbase (localhost/debian-bookworm, made by
# scripts/setup.d/k8s.sh) — no Python, pip, Java, Maven or caches of this machine, its own empty
# /var/cache — running `bash scripts/setup.sh && bash scripts/quickstart.sh` with apt, PyPI and
# Maven Central over the network. Each output line is prefixed with the seconds since the start;
# the last line is the figure. Needs root and podman; the container's network namespace is its
# own, so the demo's bridge and namespaces never meet the host's.
#
#   bash bench/fresh_machine.sh            # IMAGE=... to use another Debian 12 image
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/debian-bookworm}
podman image exists "$IMAGE" || { echo "fresh_machine: no image $IMAGE (bash scripts/setup.d/k8s.sh makes it)" >&2; exit 2; }
work=$(mktemp -d /var/tmp/privacy-sensor-fresh-XXXXXX)
trap 'rm -rf "$work"' EXIT
git clone -q --no-local . "$work/src"
# This network's TLS-intercepting proxy: every machine here trusts its CA, so the fresh one does too.
mkdir "$work/ca"
cp /usr/local/share/ca-certificates/*.crt "$work/ca/" 2>/dev/null || true
echo "fresh_machine: $(git rev-parse --short HEAD) in $IMAGE; load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
start=${EPOCHREALTIME/./}  # microseconds
stamp() {  # each line as it comes (mawk would read its input in blocks), with the seconds since start
  local line now
  while IFS= read -r line; do
    now=$(( (${EPOCHREALTIME/./} - start) / 100000 ))
    printf '%4d.%d %s\n' $((now / 10)) $((now % 10)) "${line%$'\r'}"
  done
}
# runc cannot set this sandbox's hard rlimits (docs/deploy.md), so lower ones are given. A tty (-t)
# so that podman passes each line on as it comes; stdin is not one, so the demo stops by itself.
# --pid=host: a machine has one PID namespace (the agent's DaemonSet runs with hostPID): the eBPF
# sources report the kernel's PIDs, which a container's own PID namespace would renumber.
set +o pipefail  # the figure is read from the log below, whatever podman exits with
podman --cgroup-manager=cgroupfs run --rm -t --privileged --pid=host --ulimit=nofile=20000:20000 --ulimit=nproc=1024:1024 \
  -v "$work/src:/src" -v "$work/ca:/usr/local/share/ca-certificates:ro" -w /src "$IMAGE" \
  bash -c 'bash scripts/setup.sh && DEMO_DURATION=5 bash scripts/quickstart.sh </dev/null ||
    { for f in /tmp/privacy-sensor-demo-*/*.log; do echo "== $f"; grep -v "not tapped" "$f" | tail -n 12; done; exit 1; }' 2>&1 |
  stamp |
  tee "$work/log"
map=$(awk '/demo: the map: / { print $1; exit }' "$work/log")
[ -n "$map" ] || { echo "fresh_machine: no live map (see the lines above)" >&2; exit 1; }
setup=$(awk '/setup: done/ { print $1; exit }' "$work/log")
echo "fresh_machine: live map after ${map} s (setup.sh ${setup} s); load now: $(cut -d' ' -f1-3 /proc/loadavg)"
