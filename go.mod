module github.com/gracekeeper/gracekeeper

go 1.26.0

require (
	github.com/blang/semver/v4 v4.0.0 // indirect
	github.com/cert-manager/cert-manager v1.21.2 // indirect
	github.com/evanphx/json-patch/v5 v5.9.11 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/slok/kubewebhook/v2 v2.7.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	helm.sh/helm/v3 v3.22.0 // indirect
	k8s.io/api v0.37.2 // indirect
	k8s.io/apimachinery v0.37.2 // indirect
	k8s.io/client-go v0.37.2 // indirect
	sigs.k8s.io/kustomize/api v0.21.2 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
