// Chart tests: the Deployment and what runs beside it (PodDisruptionBudget, Service,
// ResourceQuota, ServiceMonitor).

package deploy

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDeploymentPassesGracekeepersOwnRules(t *testing.T) {
	objs := render(t, "gracekeeper", "")
	d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	pod := d.Spec.Template.Spec

	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		*s.RollingUpdate.MaxUnavailable != intstr.FromInt32(0) || *s.RollingUpdate.MaxSurge != intstr.FromInt32(1) {
		t.Errorf("strategy = %+v, want RollingUpdate maxUnavailable 0, maxSurge 1", s)
	}
	if d.Spec.RevisionHistoryLimit == nil || *d.Spec.RevisionHistoryLimit < 3 {
		t.Errorf("revisionHistoryLimit = %v, want at least 3", d.Spec.RevisionHistoryLimit)
	}
	if pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q", pod.PriorityClassName)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Errorf("affinity = %+v, want preferred pod anti-affinity", a)
	}
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Error("no topologySpreadConstraints")
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	for _, tsc := range pod.TopologySpreadConstraints {
		if sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector); err != nil || !sel.Matches(podLabels) {
			t.Errorf("topology spread selector %v does not select the pods", tsc.LabelSelector)
		}
	}

	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("containers = %d, init containers = %d, want one container", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	checkRestricted(t, c)
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}

	// gracekeeper's own rules: a preStop hook, a grace period covering it
	// plus 25s of shutdown, and one covering the drain delay too.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("lifecycle = %+v, want a native preStop sleep (the image has no sleep binary)", c.Lifecycle)
	}
	preStop := c.Lifecycle.PreStop.Sleep.Seconds
	grace := *pod.TerminationGracePeriodSeconds
	if grace < preStop+25 {
		t.Errorf("terminationGracePeriodSeconds %d < preStop %d + 25", grace, preStop)
	}
	if !slices.Contains(c.Args, "--drain-delay=10s") || grace <= preStop+10 {
		t.Errorf("args %v with grace %ds: the drain delay must end before the grace period", c.Args, grace)
	}

	// Probes use the plain port that --probe-listen serves.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		port := ports[probe.HTTPGet.Port.StrVal]
		if probe.HTTPGet.Scheme == corev1.URISchemeHTTPS || !slices.Contains(c.Args, fmt.Sprintf("--probe-listen=:%d", port)) {
			t.Errorf("%s probe %+v does not use the plain --probe-listen port (args %v)", name, probe.HTTPGet, c.Args)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probe paths = %s and %s, want /readyz and /healthz", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if !slices.Contains(c.Args, fmt.Sprintf("--listen=:%d", ports["https"])) {
		t.Errorf("args %v do not serve HTTPS on the https port %d", c.Args, ports["https"])
	}

	// The configuration file is the ConfigMap's config.yaml.
	configMap := find[corev1.ConfigMap](t, objs, "ConfigMap", "gracekeeper-config")
	var configMount string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == configMap.Name {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					configMount = m.MountPath
				}
			}
		}
	}
	if configMount == "" || !slices.Contains(c.Args, "--config="+configMount+"/config.yaml") {
		t.Errorf("args %v do not read config.yaml from the mounted ConfigMap %s", c.Args, configMap.Name)
	}

	pdb := find[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "gracekeeper")
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != intstr.FromInt32(1) || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB = %+v, want maxUnavailable 1 and no minAvailable, which would block drains at one replica", pdb.Spec)
	}
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
	}
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")
	if !labels.SelectorFromSet(service.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not select the pods", service.Spec.Selector)
	}
	if !servicePortTargets(service, 443, "https") || !servicePortTargets(service, 8080, "metrics") {
		t.Errorf("Service ports = %+v, want 443 -> https and a metrics port", service.Spec.Ports)
	}
	if sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", pod.ServiceAccountName); sa.Namespace != d.Namespace {
		t.Errorf("service account %s is in %s, the Deployment in %s", sa.Name, sa.Namespace, d.Namespace)
	}
}

func TestResourceQuotaAdmitsTheCriticalPriorityClass(t *testing.T) {
	tests := []struct {
		name      string
		values    string
		wantClass string
	}{
		{name: "By default the quota covers system-cluster-critical.", wantClass: "system-cluster-critical"},
		{name: "It follows a node-critical priority class.", values: "priorityClassName: system-node-critical\n", wantClass: "system-node-critical"},
		{name: "Other priority classes need no quota.", values: "priorityClassName: high\n"},
		{name: "No priority class needs no quota.", values: "priorityClassName: \"\"\n"},
		{name: "The quota can be switched off.", values: "resourceQuota: {enabled: false}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, "gracekeeper", tt.values)
			var quotas []*corev1.ResourceQuota
			for _, obj := range objs {
				if obj.GetKind() == "ResourceQuota" {
					quotas = append(quotas, find[corev1.ResourceQuota](t, objs, "ResourceQuota", obj.GetName()))
				}
			}
			if tt.wantClass == "" {
				if len(quotas) != 0 {
					t.Errorf("rendered %d ResourceQuotas, want none", len(quotas))
				}
				return
			}
			if len(quotas) != 1 {
				t.Fatalf("rendered %d ResourceQuotas, want 1", len(quotas))
			}
			q := quotas[0]
			want := &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{tt.wantClass},
			}}}
			if q.Namespace != "gracekeeper" || !reflect.DeepEqual(q.Spec.ScopeSelector, want) {
				t.Errorf("quota %s/%s scopeSelector = %+v, want %+v", q.Namespace, q.Name, q.Spec.ScopeSelector, want)
			}
			if pods := q.Spec.Hard[corev1.ResourcePods]; pods.Value() < 3 {
				t.Errorf("quota allows %s pods, want room for the replicas and a surge", pods.String())
			}
		})
	}
}

func TestServiceMonitorScrapesTheMetricsPort(t *testing.T) {
	for _, obj := range render(t, "gracekeeper", "") {
		if obj.GetKind() == "ServiceMonitor" {
			t.Fatal("a ServiceMonitor is rendered by default; it needs the prometheus-operator CRDs")
		}
	}
	objs := render(t, "gracekeeper", "metrics: {serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}}\n")
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")
	var monitor *unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == "ServiceMonitor" {
			monitor = obj
		}
	}
	if monitor == nil {
		t.Fatalf("no ServiceMonitor rendered: %v", kinds(objs))
	}
	if monitor.GetAPIVersion() != "monitoring.coreos.com/v1" || monitor.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %s with labels %v, want monitoring.coreos.com/v1 with release=prometheus", monitor.GetAPIVersion(), monitor.GetLabels())
	}
	matchLabels, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	if len(matchLabels) == 0 || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(service.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v)", matchLabels, service.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("endpoints = %v, want one", endpoints)
	}
	endpoint := endpoints[0].(map[string]any)
	var portNames []string
	for _, p := range service.Spec.Ports {
		portNames = append(portNames, p.Name)
	}
	if endpoint["port"] != "metrics" || !slices.Contains(portNames, "metrics") || endpoint["path"] != "/metrics" || endpoint["interval"] != "15s" {
		t.Errorf("endpoint = %v, want the Service's metrics port, /metrics every 15s", endpoint)
	}
}
