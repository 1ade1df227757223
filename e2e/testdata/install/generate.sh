#!/usr/bin/env bash
# Regenerates monitoring.coreos.com_servicemonitors.yaml and
# monitoring.coreos.com_prometheusrules.yaml, the ServiceMonitor and
# PrometheusRule CRDs the install test applies. The prometheus-operator main module is not on
# the module proxy, but its API types module is, and upstream generates its
# CRDs from those types with controller-gen, as this does:
#
#   controller-gen crd:crdVersions=v1 paths=<monitoring/v1> output:crd:dir=<out>
#
# It works in a throwaway module under $TMPDIR, so the repository's go.mod
# never depends on either. make test does not run it; run it by hand after
# changing the versions below.
set -euo pipefail

MONITORING_VERSION=v0.95.2
CONTROLLER_TOOLS_VERSION=v0.23.0
MONITORING=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/servicemonitor-crd-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The throwaway module stands alone: no workspace, no vendoring.
export GOWORK=off GOFLAGS=-mod=mod
cd "$work"
go mod init servicemonitor-crd >/dev/null 2>&1
go get "$MONITORING/v1@$MONITORING_VERSION" \
  "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
go build -o controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
./controller-gen crd:crdVersions=v1 paths="$MONITORING/v1" output:crd:dir="$work/crds"
for crd in servicemonitors prometheusrules; do
  cp "$work/crds/monitoring.coreos.com_$crd.yaml" "$here/"
  echo "wrote $here/monitoring.coreos.com_$crd.yaml ($MONITORING $MONITORING_VERSION, controller-gen $CONTROLLER_TOOLS_VERSION)"
done
