#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-*, kubectl, kwok) into a cache keyed
# by version, so reruns cost seconds. Usage: build.sh OUTDIR
set -euo pipefail
cd "$(dirname "$0")"
out=${1:?usage: build.sh OUTDIR}
k8s=v1.37.2
mkdir -p "$out"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
build() { # name package [ldflags]
  if [[ -x "$out/$1" ]]; then return; fi
  echo "building $1 (first build takes minutes; cached afterwards in $out)" >&2
  start=$SECONDS
  go build -trimpath -ldflags "${3:-}" -o "$out/$1.tmp" "$2"
  mv "$out/$1.tmp" "$out/$1"
  echo "built $1 in $((SECONDS - start))s" >&2
}
build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ldflags"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
build kwok sigs.k8s.io/kwok/cmd/kwok "-s -w"
