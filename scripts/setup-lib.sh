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
    # --force-unsafe-io: dpkg skips its fsync per unpacked file (the kernel headers alone are ~20k
    # files); a crash mid-install means running the setup again, which it is made for.
    # shellcheck disable=SC2086
    apt-get install -y -q -o Dpkg::Options::=--force-unsafe-io $missing >/dev/null
  fi
}

python_needs() {  # the Debian packages a plain Debian 12 lacks for `pip install` of this package
  command -v python3 >/dev/null || { echo "python3 python3-pip python3-dev gcc libc6-dev"; return; }
  python3 -m pip --version >/dev/null 2>&1 || echo -n "python3-pip "
  python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null \
    || echo -n "python3-dev "
  command -v gcc >/dev/null || echo -n "gcc libc6-dev"  # pypcap is built from source
}

# Debian's own python3 is "externally managed" (PEP 668): pip refuses to install beside apt's
# packages unless told. This package needs Debian's python3-bpfcc beside its PyPI dependencies in
# one interpreter, so on such a Python pip installs into /usr/local (pip's rule there: it never
# touches apt's files in /usr/lib/python3). A pyenv or venv Python has no marker and is unchanged.
externally_managed() {
  python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")))' 2>/dev/null
}

pip_install() {
  local flags=""
  externally_managed && flags="--break-system-packages"
  # shellcheck disable=SC2086
  # pip's own failure stops the setup (pipefail); only grep's "nothing left" status is ignored
  python3 -m pip install -q --disable-pip-version-check $flags "$@" 2>&1 | { grep -v "Running pip as the 'root'" || true; }
}

run_parts() {  # every *.sh directly in the folder, in name order
  local part
  for part in "$1"/*.sh; do
    [ -e "$part" ] || continue
    echo "setup: $part"
    bash "$part"
  done
}

npm_cached() {  # npm_cached PART PACKAGE VERSION DIR: PACKAGE@VERSION in DIR/node_modules, once
  local part=$1 pkg=$2 version=$3 dir=$4
  if ! command -v npm >/dev/null; then  # the image's Node comes with npm; Debian's nodejs does not
    echo "$part: apt-get install npm"
    apt-get install -y -q npm >/dev/null
  fi
  mkdir -p "$dir"
  if [ "$(node -p "try{require('$dir/node_modules/$pkg/package.json').version}catch(e){''}" 2>/dev/null)" = "$version" ]; then
    echo "$part: $pkg $version cached in $dir"
    return
  fi
  echo "$part: npm install $pkg@$version into $dir"
  (cd "$dir" && [ -f package.json ] || echo '{"private": true}' > package.json)
  nice npm install --prefix "$dir" --no-audit --no-fund --silent "$pkg@$version"
}
