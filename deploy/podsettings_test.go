// Chart tests: the values of the pods and objects every chart has (image,
// service account, security contexts, ports, PodDisruptionBudget,
// ServiceMonitor, labels), the restricted Pod Security Standard, and the chart
// as a dependency of an umbrella chart.

package deploy

import (
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// openShiftValues drop the fixed IDs, as OpenShift's restricted SCC needs: it
// assigns the UID and fsGroup from the namespace's range.
const openShiftValues = "podSecurityContext: {runAsUser: null, runAsGroup: null, fsGroup: null}\n"

// pods returns the pod templates of the Deployment and of the uninstall hook Job.
func pods(t *testing.T, objs []*unstructured.Unstructured) map[string]corev1.PodTemplateSpec {
	t.Helper()
	return map[string]corev1.PodTemplateSpec{
		"Deployment":     find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper").Spec.Template,
		"uninstall hook": find[batchv1.Job](t, objs, "Job", "gracekeeper-cleanup").Spec.Template,
	}
}

func TestPodsPassTheRestrictedPodSecurityStandard(t *testing.T) {
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for name, values := range map[string]string{"defaults": "", "OpenShift, no fixed IDs": openShiftValues} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, "gracekeeper", values)
			for kind, pod := range pods(t, objs) {
				result := psapolicy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &pod.ObjectMeta, &pod.Spec))
				if !result.Allowed {
					t.Errorf("%s: the restricted level refuses the pod: %s", kind, result.ForbiddenDetail())
				}
				if values == openShiftValues {
					if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsUser != nil || sc.RunAsGroup != nil || sc.FSGroup != nil {
						t.Errorf("%s: pod securityContext %+v, want no fixed UID, GID or fsGroup", kind, sc)
					}
					for _, c := range pod.Spec.Containers {
						if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
							t.Errorf("%s: container %s runs as UID %d, want the one OpenShift assigns", kind, c.Name, *c.SecurityContext.RunAsUser)
						}
					}
				}
			}
			// Without fsGroup the Secret's files keep root's group: they must be
			// readable by any UID, or gracekeeper cannot read its key.
			want := int32(0o440)
			if values == openShiftValues {
				want = 0o444
			}
			for _, v := range pods(t, objs)["Deployment"].Spec.Volumes {
				if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != want) {
					t.Errorf("volume %s mode %v, want %#o", v.Name, v.Secret.DefaultMode, want)
				}
			}
		})
	}
}

func TestPodSettingsFollowValues(t *testing.T) {
	deployment := func(t *testing.T, values string) (corev1.PodSpec, corev1.Container) {
		t.Helper()
		spec := pods(t, render(t, "gracekeeper", values))["Deployment"].Spec
		return spec, spec.Containers[0]
	}

	t.Run("defaults", func(t *testing.T) {
		objs := render(t, "gracekeeper", "")
		for kind, pod := range pods(t, objs) {
			if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
				t.Errorf("%s: enableServiceLinks is on; a namespace with many Services slows every start", kind)
			}
			if pod.Spec.Containers[0].Image != "gracekeeper/gracekeeper:0.1.0" {
				t.Errorf("%s: image %s, want gracekeeper/gracekeeper:0.1.0", kind, pod.Spec.Containers[0].Image)
			}
		}
		spec, c := deployment(t, "")
		if spec.HostNetwork || spec.ServiceAccountName != "gracekeeper" {
			t.Errorf("hostNetwork %t, serviceAccountName %q, want false and gracekeeper", spec.HostNetwork, spec.ServiceAccountName)
		}
		for _, want := range []string{"--listen=:8443", "--probe-listen=:8080", "--log-level=info"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("args %q lack %s", c.Args, want)
			}
		}
	})

	t.Run("image registry and digest", func(t *testing.T) {
		objs := render(t, "gracekeeper", "image: {registry: registry.example.com/mirror/, tag: v1.2.3}\n")
		for kind, pod := range pods(t, objs) {
			if got := pod.Spec.Containers[0].Image; got != "registry.example.com/mirror/gracekeeper/gracekeeper:v1.2.3" {
				t.Errorf("%s: image %s, want the registry before the repository", kind, got)
			}
		}
		digest := "sha256:" + strings.Repeat("ab", 32)
		_, c := deployment(t, "image: {tag: v1.2.3, digest: "+digest+"}\n")
		if c.Image != "gracekeeper/gracekeeper@"+digest {
			t.Errorf("image %s, want the digest instead of the tag", c.Image)
		}
	})

	t.Run("log level, extra args and env", func(t *testing.T) {
		_, c := deployment(t, "logLevel: debug\nextraArgs: [--log-format=text]\nextraEnv: [{name: HTTPS_PROXY, value: \"http://proxy:3128\"}]\n")
		if !slices.Contains(c.Args, "--log-level=debug") || c.Args[len(c.Args)-1] != "--log-format=text" {
			t.Errorf("args %q, want --log-level=debug and --log-format=text last", c.Args)
		}
		if e := envVar(c, "HTTPS_PROXY"); e == nil || e.Value != "http://proxy:3128" {
			t.Errorf("env %+v lacks HTTPS_PROXY", c.Env)
		}
		if envVar(c, "GOMEMLIMIT") == nil {
			t.Errorf("env %+v lost GOMEMLIMIT", c.Env)
		}
	})

	t.Run("an existing service account", func(t *testing.T) {
		objs := render(t, "gracekeeper", "serviceAccount: {create: false, name: platform-webhooks}\n")
		if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool {
			return o.GetKind() == "ServiceAccount" && o.GetName() != "gracekeeper-cleanup" && o.GetName() != "gracekeeper-test"
		}) {
			t.Errorf("a ServiceAccount is rendered with create: false: %v", kinds(objs))
		}
		if sa := pods(t, objs)["Deployment"].Spec.ServiceAccountName; sa != "platform-webhooks" {
			t.Errorf("serviceAccountName %q, want platform-webhooks", sa)
		}
		binding := find[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "gracekeeper-read-parents")
		if s := binding.Subjects[0]; s.Name != "platform-webhooks" || s.Namespace != "gracekeeper" {
			t.Errorf("read-parents is bound to %+v, want the named ServiceAccount", s)
		}
		if _, err := RenderChart("gracekeeper", readValues(t, "serviceAccount: {create: false}\n")); err == nil || !strings.Contains(err.Error(), "serviceAccount.name is required") {
			t.Errorf("create: false without a name: error %v, want serviceAccount.name is required", err)
		}
		objs = render(t, "gracekeeper", "serviceAccount: {name: gk, annotations: {eks.amazonaws.com/role-arn: arn}}\n")
		if sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", "gk"); sa.Annotations["eks.amazonaws.com/role-arn"] != "arn" {
			t.Errorf("ServiceAccount annotations %v", sa.Annotations)
		}
	})

	t.Run("ports and host network", func(t *testing.T) {
		spec, c := deployment(t, "hostNetwork: true\nports: {webhook: 10260, probes: 10261}\n")
		if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("hostNetwork %t, dnsPolicy %q, want true and ClusterFirstWithHostNet", spec.HostNetwork, spec.DNSPolicy)
		}
		if !slices.Contains(c.Args, "--listen=:10260") || !slices.Contains(c.Args, "--probe-listen=:10261") {
			t.Errorf("args %q do not listen on the ports", c.Args)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["https"] != 10260 || ports["metrics"] != 10261 {
			t.Errorf("container ports %v, want https 10260 and metrics 10261", ports)
		}
		// The Service and the probes name the ports, so they follow.
		if c.ReadinessProbe.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("readiness probe port %v, want the named port", c.ReadinessProbe.HTTPGet.Port)
		}
	})

	t.Run("security contexts", func(t *testing.T) {
		// Helm merges maps: a value set replaces its field, null removes it.
		spec, c := deployment(t, "podSecurityContext: {runAsUser: 1001, fsGroup: null, supplementalGroups: [1000]}\nsecurityContext: {seccompProfile: {type: RuntimeDefault}}\n")
		if sc := spec.SecurityContext; *sc.RunAsUser != 1001 || sc.FSGroup != nil || *sc.RunAsGroup != 65532 || !slices.Equal(sc.SupplementalGroups, []int64{1000}) {
			t.Errorf("pod securityContext %+v, want UID 1001, no fsGroup, GID 65532 kept and supplementalGroups [1000]", sc)
		}
		if c.SecurityContext.SeccompProfile == nil {
			t.Errorf("container securityContext %+v lacks the given seccompProfile", c.SecurityContext)
		}
		checkRestricted(t, c)
	})
}

func TestPodDisruptionBudgetFollowsValues(t *testing.T) {
	pdb := func(values string) *policyv1.PodDisruptionBudget {
		return find[policyv1.PodDisruptionBudget](t, render(t, "gracekeeper", values), "PodDisruptionBudget", "gracekeeper")
	}
	p := pdb("")
	if p.Spec.MaxUnavailable == nil || *p.Spec.MaxUnavailable != intstr.FromInt32(1) || p.Spec.MinAvailable != nil ||
		*p.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
		t.Errorf("default budget %+v, want maxUnavailable 1 and AlwaysAllow", p.Spec)
	}
	p = pdb("podDisruptionBudget: {minAvailable: 50%, unhealthyPodEvictionPolicy: IfHealthyBudget}\n")
	if p.Spec.MinAvailable == nil || *p.Spec.MinAvailable != intstr.FromString("50%") || p.Spec.MaxUnavailable != nil ||
		*p.Spec.UnhealthyPodEvictionPolicy != policyv1.IfHealthyBudget {
		t.Errorf("budget %+v, want minAvailable 50%% alone and IfHealthyBudget", p.Spec)
	}
	p = pdb("podDisruptionBudget: {maxUnavailable: 2}\n")
	if *p.Spec.MaxUnavailable != intstr.FromInt32(2) {
		t.Errorf("maxUnavailable %v, want 2", p.Spec.MaxUnavailable)
	}
	if slices.Contains(kinds(render(t, "gracekeeper", "podDisruptionBudget: {enabled: false}\n")), "PodDisruptionBudget/gracekeeper") {
		t.Error("a PodDisruptionBudget is rendered with enabled: false")
	}
}

func TestServiceMonitorScrapeSettings(t *testing.T) {
	objs := render(t, "gracekeeper", `metrics: {serviceMonitor: {enabled: true, interval: 15s, scrapeTimeout: 10s,
  relabelings: [{sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node}],
  metricRelabelings: [{action: drop, regex: go_gc_.*, sourceLabels: [__name__]}]}}
`)
	for _, obj := range objs {
		if obj.GetKind() != "ServiceMonitor" {
			continue
		}
		endpoint := obj.Object["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
		if endpoint["scrapeTimeout"] != "10s" || endpoint["interval"] != "15s" {
			t.Errorf("endpoint %v, want interval 15s and scrapeTimeout 10s", endpoint)
		}
		if r := endpoint["relabelings"].([]any); len(r) != 1 || r[0].(map[string]any)["targetLabel"] != "node" {
			t.Errorf("relabelings %v", r)
		}
		if r := endpoint["metricRelabelings"].([]any); len(r) != 1 || r[0].(map[string]any)["action"] != "drop" {
			t.Errorf("metricRelabelings %v", r)
		}
		if _, ok := render(t, "gracekeeper", "metrics: {serviceMonitor: {enabled: true}}\n")[0].Object["scrapeTimeout"]; ok {
			t.Error("scrapeTimeout set by default")
		}
		return
	}
	t.Fatalf("no ServiceMonitor in %v", kinds(objs))
}

func TestCommonLabelsReachEveryObjectAndPod(t *testing.T) {
	for _, values := range []string{"commonLabels: {team: platform}\n", "commonLabels: {team: platform}\n" + hardenedValues + "metrics: {serviceMonitor: {enabled: true}}\n"} {
		objs := render(t, "gracekeeper", values)
		for _, obj := range objs {
			if obj.GetLabels()["team"] != "platform" {
				t.Errorf("%s %s labels %v lack team=platform", obj.GetKind(), obj.GetName(), obj.GetLabels())
			}
		}
		for kind, pod := range pods(t, objs) {
			if pod.Labels["team"] != "platform" {
				t.Errorf("%s pods' labels %v lack team=platform", kind, pod.Labels)
			}
		}
	}
}

func TestSchemaRejectsBadPodSettings(t *testing.T) {
	for values, want := range map[string]string{
		"securityContext: {runAsUsr: 1000}\n":              "/securityContext",
		"podSecurityContext: {fsgroup: 1000}\n":            "/podSecurityContext",
		"image: {digest: \"sha256:abc\"}\n":                "/image/digest",
		"logLevel: verbose\n":                              "/logLevel",
		"extraArgs: [debug]\n":                             "/extraArgs/0",
		"extraEnv: [{value: x}]\n":                         "/extraEnv/0",
		"ports: {webhook: 0}\n":                            "/ports/webhook",
		"podDisruptionBudget: {maxUnavailable: -1}\n":      "/podDisruptionBudget/maxUnavailable",
		"serviceAccount: {crate: false}\n":                 "/serviceAccount",
		"metrics: {serviceMonitor: {scrapeTimeout: 10}}\n": "/metrics/serviceMonitor/scrapeTimeout",
		"enabled: \"yes\"\n":                               "/enabled",
	} {
		if _, err := RenderChart("gracekeeper", readValues(t, values)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %q: error %v, want one at %s", values, err, want)
		}
	}
}

// umbrellaChart is a parent chart with gracekeeper in charts/, as `helm
// dependency build` leaves it.
func umbrellaChart(t *testing.T, valuesYAML string) []*archive.BufferedFile {
	t.Helper()
	files := []*archive.BufferedFile{
		{Name: "Chart.yaml", Data: []byte(`apiVersion: v2
name: platform
version: 1.0.0
dependencies:
  - name: gracekeeper
    version: 0.1.0
    condition: gracekeeper.enabled
`)},
		{Name: "values.yaml", Data: []byte(valuesYAML)},
	}
	err := fs.WalkDir(chartFiles, ChartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := chartFiles.ReadFile(p)
		files = append(files, &archive.BufferedFile{Name: "charts/gracekeeper/" + strings.TrimPrefix(p, ChartDir+"/"), Data: data})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestChartRendersAsADependency(t *testing.T) {
	for _, tt := range []struct {
		name, values string
		want         bool
		wantErr      string
	}{
		{"no globals and no values", "", true, ""},
		{"globals and values of other subcharts", "global: {imageRegistry: registry.example.com, storageClass: fast}\ngracekeeper: {enabled: true, logLevel: debug}\n", true, ""},
		{"disabled by its condition", "gracekeeper: {enabled: false}\n", false, ""},
		{"a misspelt value is still refused", "gracekeeper: {scop: cluster}\n", false, "additional properties 'scop' not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loader.LoadFiles(umbrellaChart(t, tt.values))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := RenderRelease(c, "platform", map[string]any{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			names := map[string]bool{}
			for _, o := range objs {
				names[o.GetKind()+"/"+o.GetName()] = true
			}
			if got := names["Deployment/gracekeeper"] && names["MutatingWebhookConfiguration/gracekeeper"]; got != tt.want {
				t.Errorf("gracekeeper rendered %t, want %t: %v", got, tt.want, slices.Sorted(maps.Keys(names)))
			}
			if tt.want && strings.Contains(tt.values, "debug") {
				c := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper").Spec.Template.Spec.Containers[0]
				if !slices.Contains(c.Args, "--log-level=debug") {
					t.Errorf("the parent's gracekeeper values did not reach the chart: args %q", c.Args)
				}
			}
		})
	}
}
