package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hardenedValues turn on mutual TLS and the NetworkPolicy.
const hardenedValues = `mutualTLS: {enabled: true, clientCASecretName: apiserver-client-ca}
networkPolicy: {enabled: true, apiServerCIDRs: [10.0.0.0/24, "fd00::/64"]}
`

func webhookContainer(t *testing.T, valuesYAML string) corev1.Container {
	t.Helper()
	d := find[appsv1.Deployment](t, render(t, "gracekeeper", valuesYAML), "Deployment", "gracekeeper")
	return d.Spec.Template.Spec.Containers[0]
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for _, e := range c.Env {
		if e.Name == name {
			return &e
		}
	}
	return nil
}

func TestGoMemoryLimitFollowsTheContainersLimit(t *testing.T) {
	// Three quarters of the limit, in bytes: a quarter is headroom for a
	// burst past the Go runtime's soft limit.
	for limit, want := range map[string]string{"": "201326592", "1Gi": "805306368", "300M": "225000000", "268435456": "201326592"} {
		values := ""
		if limit != "" {
			values = "resources: {limits: {memory: " + limit + "}}\n"
		}
		if env := envVar(webhookContainer(t, values), "GOMEMLIMIT"); env == nil || env.Value != want {
			t.Errorf("memory limit %q: GOMEMLIMIT = %+v, want %s", limit, env, want)
		}
	}
	c := webhookContainer(t, "")
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--max-inflight-bytes") }) {
		t.Errorf("args %q set --max-inflight-bytes by default; the binary derives it from GOMEMLIMIT", c.Args)
	}
	if !slices.Contains(c.Args, "--tls-server-names=gracekeeper.gracekeeper.svc") {
		t.Errorf("args %q do not name the Service a new certificate must be valid for", c.Args)
	}

	c = webhookContainer(t, "goMemLimit: 200MiB\nmaxInFlightBytes: 16777216\n")
	if env := envVar(c, "GOMEMLIMIT"); env == nil || env.Value != "200MiB" {
		t.Errorf("GOMEMLIMIT = %+v, want the explicit 200MiB", env)
	}
	if !slices.Contains(c.Args, "--max-inflight-bytes=16777216") {
		t.Errorf("args %q lack --max-inflight-bytes=16777216", c.Args)
	}

	c = webhookContainer(t, "resources: {limits: null}\n")
	if env := envVar(c, "GOMEMLIMIT"); env != nil {
		t.Errorf("GOMEMLIMIT = %+v without a memory limit, want none", env)
	}
}

func TestMutualTLSMountsTheClientCA(t *testing.T) {
	c := webhookContainer(t, "")
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--client-ca-file") }) {
		t.Errorf("args %q require client certificates by default", c.Args)
	}
	objs := render(t, "gracekeeper", hardenedValues)
	d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	c = d.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--client-ca-file=/client-ca/ca.crt") {
		t.Errorf("args %q lack --client-ca-file=/client-ca/ca.crt", c.Args)
	}
	mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "client-ca" && m.MountPath == "/client-ca" && m.SubPath == ""
	})
	fromSecret := slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "client-ca" && v.Secret != nil && v.Secret.SecretName == "apiserver-client-ca"
	})
	if !mounted || !fromSecret {
		t.Errorf("client CA mounted %v from Secret apiserver-client-ca %v, want both, as a directory that sees updates", mounted, fromSecret)
	}
}

func TestNetworkPolicyAdmitsTheAPIServerAndMonitoringOnly(t *testing.T) {
	for _, obj := range render(t, "gracekeeper", "") {
		if obj.GetKind() == "NetworkPolicy" {
			t.Fatal("a NetworkPolicy is rendered by default")
		}
	}
	objs := render(t, "gracekeeper", hardenedValues)
	policy := find[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy", "gracekeeper")
	d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil || !selector.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("podSelector %v does not select the webhook's pods %v", policy.Spec.PodSelector, d.Spec.Template.Labels)
	}
	if !slices.Equal(policy.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes = %v, want Ingress only: discovery needs egress to the API server", policy.Spec.PolicyTypes)
	}
	if len(policy.Spec.Ingress) != 2 {
		t.Fatalf("%d ingress rules, want 2", len(policy.Spec.Ingress))
	}
	containerPorts := map[string]int32{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	webhook, metrics := policy.Spec.Ingress[0], policy.Spec.Ingress[1]
	if len(webhook.Ports) != 1 || *webhook.Ports[0].Port != intstr.FromString("https") || containerPorts["https"] != 8443 {
		t.Errorf("first rule ports %v, want the https port (8443)", webhook.Ports)
	}
	var cidrs []string
	for _, peer := range webhook.From {
		if peer.IPBlock == nil || peer.NamespaceSelector != nil || peer.PodSelector != nil {
			t.Errorf("webhook peer %+v, want an ipBlock only", peer)
			continue
		}
		cidrs = append(cidrs, peer.IPBlock.CIDR)
	}
	if !slices.Equal(cidrs, []string{"10.0.0.0/24", "fd00::/64"}) {
		t.Errorf("webhook port open to %v, want the API server's CIDRs", cidrs)
	}
	if len(metrics.Ports) != 1 || *metrics.Ports[0].Port != intstr.FromString("metrics") || containerPorts["metrics"] != 8080 {
		t.Errorf("second rule ports %v, want the metrics port (8080)", metrics.Ports)
	}
	if len(metrics.From) != 1 || metrics.From[0].NamespaceSelector == nil ||
		metrics.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
		t.Errorf("metrics port open to %+v, want the monitoring namespace", metrics.From)
	}
}

func TestHardeningValuesAreChecked(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr string
	}{
		{"Mutual TLS needs the client CA's Secret.", "mutualTLS: {enabled: true}\n", "/mutualTLS"},
		{"A NetworkPolicy needs the API server's CIDRs.", "networkPolicy: {enabled: true}\n", "networkPolicy.apiServerCIDRs must list"},
		{"A CIDR must be one.", "networkPolicy: {enabled: true, apiServerCIDRs: [apiserver]}\n", "/networkPolicy/apiServerCIDRs/0"},
		{"A budget under one maximum-size review is refused.", "maxInFlightBytes: 1024\n", "/maxInFlightBytes"},
		{"A Go memory limit needs a unit Go reads.", "goMemLimit: 200Mi\n", "/goMemLimit"},
		{"A memory limit the chart cannot take three quarters of asks for goMemLimit.", "resources: {limits: {memory: 0.5Gi}}\n", "set goMemLimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderChart("gracekeeper", readValues(t, tt.values))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("render = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
