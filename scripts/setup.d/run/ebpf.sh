#!/usr/bin/env bash
# eBPF TLS capture (interceptor/tls): make BCC usable from the project's Python on a machine with no
# in-kernel headers and no /lib/modules. Idempotent: a second run changes nothing.
#  1. a merged kernel-header tree (Debian splits -common and -amd64) for BCC_KERNEL_SOURCE;
#  2. tracefs mounted (BCC's uprobe detach writes there);
#  3. `import bcc` from this Python via a .pth naming a folder that holds only a `bcc` symlink to
#     Debian's python3-bpfcc (never `pip install bcc`: PyPI's bcc is an unrelated package);
#  4. capstone (x86-64 disassembler: finds the RET offsets of Go's crypto/tls functions exactly).
set -euo pipefail
# shellcheck source=scripts/setup-lib.sh
. "$(dirname "$0")/../../setup-lib.sh"
CACHE=/var/cache/privacy-sensor/ebpf
mkdir -p "$CACHE"

# 1. merged header tree
amd64=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$amd64" ]; then
  common="${amd64%-amd64}-common"
  tree="$CACHE/kernel-headers/$(basename "$amd64")"
  if [ ! -e "$tree/.complete" ]; then
    rm -rf "$tree" && mkdir -p "$tree"
    [ -d "$common" ] && cp -rs "$common/." "$tree/"
    cp -rs --remove-destination "$amd64/." "$tree/"
    touch "$tree/.complete"
  fi
  ln -sfn "$tree" "$CACHE/kernel-headers/current"
else
  echo "setup ebpf: no /usr/src/linux-headers-*-amd64 (is linux-headers-amd64 installed?)" >&2
fi

# 2. tracefs
if [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup ebpf: could not mount tracefs" >&2
fi

# 3. bcc for the project's Python
mkdir -p "$CACHE/pylib"
ln -sfn /usr/lib/python3/dist-packages/bcc "$CACHE/pylib/bcc"
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$CACHE/pylib" > "$site/privacy-sensor-bcc.pth"
python3 -c 'import bcc' || echo "setup ebpf: 'import bcc' still fails" >&2

# 4. disassembler for the Go RET finder
python3 -c 'import capstone' 2>/dev/null || pip_install 'capstone>=5,<6'
