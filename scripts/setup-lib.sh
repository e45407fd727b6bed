# Shared by scripts/setup.sh and scripts/setup-tests.sh (sourced, not run).
export DEBIAN_FRONTEND=noninteractive

apt_install() {  # the named Debian packages that are not installed yet, with one apt-get update
  local missing="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "setup: apt-get install$missing"
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q $missing >/dev/null
  fi
}

pip_install() {
  python3 -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "Running pip as the 'root'" || true
}

run_parts() {  # every *.sh directly in the folder, in name order
  local part
  for part in "$1"/*.sh; do
    [ -e "$part" ] || continue
    echo "setup: $part"
    bash "$part"
  done
}
