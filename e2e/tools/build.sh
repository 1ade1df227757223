#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) and a real node's kubelet and kube-proxy into
# OUTDIR, a cache keyed by version, so reruns cost nothing. Usage: build.sh OUTDIR
set -euo pipefail
cd "$(dirname "$0")"
out=${1:?usage: build.sh OUTDIR}
k8s=v1.37.2
mkdir -p "$out"
# Without the version stamp /version reports v0.0.0-master, and version-dependent
# behaviour (the native preStop sleep action) cannot be tested.
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"

missing() { for b in "$@"; do [[ -x "$out/$b" ]] || return 0; done; return 1; }

build() { # ldflags binaries... -- packages...
  local ldflags=$1; shift
  local bins=()
  while [[ $1 != -- ]]; do bins+=("$1"); shift; done; shift
  missing "${bins[@]}" || return 0
  echo "building ${bins[*]} (the first build takes several minutes; cached in $out)" >&2
  local start=$SECONDS tmp
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  # One invocation per group, so shared packages compile once.
  if [[ ${#bins[@]} == 1 ]]; then
    go build -trimpath -ldflags "$ldflags" -o "$tmp/${bins[0]}" "$@"
  else
    go build -trimpath -ldflags "$ldflags" -o "$tmp/" "$@"
  fi
  for b in "${bins[@]}"; do mv "$tmp/$b" "$out/$b"; done
  rmdir "$tmp"
  echo "built ${bins[*]} in $((SECONDS - start))s" >&2
}

build "-s -w" etcd -- go.etcd.io/etcd/server/v3
build "$k8s_ldflags" kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy -- \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
build "-s -w" kwok -- sigs.k8s.io/kwok/cmd/kwok
