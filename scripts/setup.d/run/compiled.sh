#!/usr/bin/env bash
# The optional compiled build of the hot path (README "Compiled core"): mypy's mypyc compiles the
# modules listed in interceptor/compiled.py into /var/cache/privacy-sensor/compiled/<hash of their
# sources>. Cached: with unchanged sources a second run compiles nothing. Never fails the setup: a
# machine without a C compiler, a failed build or PRIVACY_SENSOR_PURE=1 runs the same code as pure
# Python (the tests check both give the same records).
set -euo pipefail
cd "$(dirname "$0")/../../.."
MYPY_VERSION=2.4.1  # the compiler: a build is remade when it changes (pyproject.toml [compile] pins the same)
# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh
if [ -n "${PRIVACY_SENSOR_PURE:-}" ] && [ "${PRIVACY_SENSOR_PURE}" != 0 ]; then
  echo "compiled: PRIVACY_SENSOR_PURE is set: no compiled build"
  exit 0
fi
if ! python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('mypy') != '$MYPY_VERSION')" 2>/dev/null; then
  echo "compiled: pip install mypy==$MYPY_VERSION (mypyc)"
  pip_install "mypy==$MYPY_VERSION" || { echo "compiled: mypy not installable: pure Python runs" >&2; exit 0; }
fi
# ~90 s on 2 cores the first time (one C file per build, gcc -O3); nice: other work goes first.
nice python3 scripts/build_compiled.py || echo "compiled: the build failed (above): pure Python runs" >&2
