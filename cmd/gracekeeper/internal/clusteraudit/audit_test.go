package clusteraudit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// mixedCluster has the chart's opt-in webhooks installed and a bit of everything:
//   - shop (enforce, the context's namespace): a Deployment that needs pod patches, a Recreate
//     Deployment, a graceful StatefulSet; running, finished and terminating pods;
//   - staging (audit): an OnDelete DaemonSet;
//   - sandbox (no label): a graceful Deployment and a bare pod without a hook;
//   - typo (gracekeeper.io/mode=enforcee): nothing;
//   - kube-system: excluded, never scanned.
func mixedCluster(t *testing.T) *testCluster {
	t.Helper()
	legacy := deploymentObj("shop", "legacy", graceful("legacy"))
	legacy.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	agent := daemonSetObj("staging", "agent", graceful("agent"))
	agent.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	finished := podObj("shop", "migrate-x1", "", podSpec("migrate"))
	finished.Status.Phase = corev1.PodSucceeded
	terminating := podObj("shop", "web-5d8f7c-old01", "ReplicaSet/web-5d8f7c", podSpec("web"))
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 5, 4, 11, 0, 0, 0, time.UTC)}
	web := deploymentObj("shop", "web", podSpec("web"))
	web.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(10))
	objects := append(chartWebhooks(t, nil),
		namespaceObj("shop", "enforce"), namespaceObj("staging", "audit"), namespaceObj("sandbox", ""),
		namespaceObj("typo", "enforcee"), namespaceObj("kube-system", ""),
		web,
		legacy,
		statefulSetObj("shop", "db", graceful("db")),
		podObj("shop", "web-5d8f7c-abcde", "ReplicaSet/web-5d8f7c", podSpec("web")),
		podObj("shop", "web-5d8f7c-fghij", "ReplicaSet/web-5d8f7c", podSpec("web")),
		podObj("shop", "db-0", "StatefulSet/db", graceful("db")),
		finished, terminating,
		agent,
		deploymentObj("sandbox", "api", graceful("api")),
		podObj("sandbox", "debug", "", podSpec("debug")),
		deploymentObj("kube-system", "coredns", podSpec("coredns")),
	)
	return newTestCluster(objects...)
}

func TestAuditReportsEveryNamespaceAsText(t *testing.T) {
	out, _, err := mixedCluster(t).audit(t, "-A")
	if err != nil {
		t.Fatalf("without --exit-code a complete scan exits 0, even with denials; got %v", err)
	}
	policytest.Golden(t, "testdata/audit/mixed.txt", []byte(out))
}

func TestAuditJSONIsStable(t *testing.T) {
	out, _, err := mixedCluster(t).audit(t, "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	policytest.Golden(t, "testdata/audit/mixed.json", []byte(out))
	var report auditReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("the JSON report does not decode into its documented schema: %v", err)
	}
}

func TestAuditExitCode(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
	}{
		{"With --exit-code, a workload enforce would deny makes the exit code 1.", []string{"-A", "--exit-code"}, cli.ErrFindings},
		{"Without --exit-code, denials are only reported.", []string{"-A"}, nil},
		{"With --exit-code, a namespace with only patches and warnings exits 0.", []string{"-n", "sandbox", "--exit-code"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := mixedCluster(t).audit(t, tt.args...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAuditScope(t *testing.T) {
	scanned := func(t *testing.T, args ...string) []string {
		t.Helper()
		out, _, err := mixedCluster(t).audit(t, append(args, "-o", "json")...)
		if err != nil {
			t.Fatal(err)
		}
		var report auditReport
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ns := range report.Namespaces {
			for _, w := range ns.Workloads {
				names = append(names, ns.Name+"/"+w.Name)
			}
		}
		return names
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"-n scans one namespace.", []string{"-n", "staging"}, "staging/agent"},
		{"Without -n or -A, the context's namespace is scanned.", nil, "shop/legacy shop/web shop/db"},
		{"--selector scans the namespaces whose labels match.", []string{"--selector", "gracekeeper.io/mode in (enforce,audit)"}, "shop/legacy shop/web shop/db staging/agent"},
		{"-A scans everything but the excluded namespaces.", []string{"-A"}, "sandbox/api shop/legacy shop/web shop/db staging/agent"},
		{"-n on an excluded namespace scans nothing.", []string{"-n", "kube-system"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(scanned(t, tt.args...), " "); got != tt.want {
				t.Errorf("scanned %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("-n on a namespace that does not exist is an error.", func(t *testing.T) {
		_, _, err := mixedCluster(t).audit(t, "-n", "nope")
		if err == nil || !strings.Contains(err.Error(), `namespace "nope" not found`) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestAuditListsInPagesOf500(t *testing.T) {
	c := newTestCluster(namespaceObj("big", "enforce"))
	// 1201 Deployments in three pages: the fake clientset ignores limit and
	// continue, so a reactor plays the API server.
	var requests []metav1.ListOptions
	c.kube.PrependReactor("list", "deployments", func(action k8stesting.Action) (bool, runtime.Object, error) {
		opts := action.(k8stesting.ListActionImpl).ListOptions
		requests = append(requests, opts)
		start := 0
		if opts.Continue != "" {
			fmt.Sscanf(opts.Continue, "from-%d", &start)
		}
		list := &appsv1.DeploymentList{}
		for i := start; i < min(start+int(opts.Limit), 1201); i++ {
			list.Items = append(list.Items, *deploymentObj("big", fmt.Sprintf("app-%04d", i), graceful("app")))
		}
		if next := start + int(opts.Limit); next < 1201 {
			list.Continue = fmt.Sprintf("from-%d", next)
		}
		return true, list, nil
	})
	out, _, err := c.audit(t, "-n", "big", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var report auditReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if got := report.Summary.Workloads; got != 1201 {
		t.Errorf("scanned %d Deployments, want every one of 1201", got)
	}
	var got []string
	for _, r := range requests {
		got = append(got, fmt.Sprintf("limit=%d continue=%q", r.Limit, r.Continue))
	}
	want := []string{`limit=500 continue=""`, `limit=500 continue="from-500"`, `limit=500 continue="from-1000"`}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("list requests:\n got %v\nwant %v", got, want)
	}
}

func TestAuditReportsWhatItCannotRead(t *testing.T) {
	forbidden := func(resource schema.GroupResource) k8stesting.ReactionFunc {
		return func(action k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(resource, "", errors.New("RBAC: access denied"))
		}
	}
	tests := []struct {
		name         string
		args         []string
		deny         map[string]schema.GroupResource
		wantProblems []string
		wantNotes    []string
		wantFound    string
		wantModes    string
	}{
		{
			name:         "A forbidden list names the resource, the namespace and the permission, and the rest is still reported.",
			args:         []string{"-n", "shop"},
			deny:         map[string]schema.GroupResource{"statefulsets": statefulSetsResource},
			wantProblems: []string{`cannot list statefulsets.apps in namespace "shop": forbidden (needs "list" on statefulsets.apps)`},
			wantFound:    "deployment/legacy",
			wantModes:    "webhook",
		},
		{
			name: "A user who may list only Deployments, cluster-wide, gets their findings and a list of everything else.",
			args: []string{"-A"},
			deny: map[string]schema.GroupResource{"namespaces": namespacesResource, "statefulsets": statefulSetsResource,
				"daemonsets": daemonSetsResource, "pods": podsResource,
				"mutatingwebhookconfigurations": mutatingConfigs, "validatingwebhookconfigurations": validatingConfigs},
			wantProblems: []string{
				`cannot list namespaces: forbidden (needs "list" on namespaces)`,
				`cannot list statefulsets.apps in all namespaces: forbidden (needs "list" on statefulsets.apps at cluster scope)`,
				`cannot list daemonsets.apps in all namespaces: forbidden (needs "list" on daemonsets.apps at cluster scope)`,
				`cannot list pods in all namespaces: forbidden (needs "list" on pods at cluster scope)`,
			},
			wantNotes: []string{
				`cannot list mutatingwebhookconfigurations.admissionregistration.k8s.io: forbidden (needs "list" on mutatingwebhookconfigurations.admissionregistration.k8s.io)`,
				"no gracekeeper webhook configuration was found, so modes follow --scope=optIn",
			},
			wantFound: "deployment/legacy",
			wantModes: "flags",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mixedCluster(t)
			for resource, gr := range tt.deny {
				c.kube.PrependReactor("list", resource, forbidden(gr))
			}
			out, _, err := c.audit(t, append(tt.args, "-o", "json")...)
			if err == nil || errors.Is(err, cli.ErrFindings) || errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "the report is incomplete") {
				t.Fatalf("an incomplete scan exits 2 and says so, got %v", err)
			}
			var report auditReport
			if err := json.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("the report must still be printed: %v\n%s", err, out)
			}
			var problems []string
			for _, p := range report.Problems {
				problems = append(problems, p.Message)
			}
			if strings.Join(problems, "\n") != strings.Join(tt.wantProblems, "\n") {
				t.Errorf("problems:\n got %q\nwant %q", problems, tt.wantProblems)
			}
			notes := strings.Join(report.Notes, "\n")
			for _, want := range tt.wantNotes {
				if !strings.Contains(notes, want) {
					t.Errorf("notes lack %q:\n%s", want, notes)
				}
			}
			if !strings.Contains(out, `"object": "`+tt.wantFound+`"`) {
				t.Errorf("the findings that could be read must be reported; %s is missing", tt.wantFound)
			}
			if report.ModesFrom != tt.wantModes || report.Summary.Complete {
				t.Errorf("modesFrom %q complete %t, want %q and false", report.ModesFrom, report.Summary.Complete, tt.wantModes)
			}
		})
	}
	t.Run("A user who cannot read the namespace still gets its findings, with its mode unknown.", func(t *testing.T) {
		c := mixedCluster(t)
		c.kube.PrependReactor("get", "namespaces", forbidden(namespacesResource))
		out, _, err := c.audit(t, "-n", "staging")
		if err == nil || errors.Is(err, cli.ErrFindings) {
			t.Fatalf("want exit 2, got %v", err)
		}
		for _, want := range []string{"namespace staging: mode unknown, the namespace could not be read\n  daemonset/agent\n",
			`cannot get namespaces "staging": forbidden (needs "get" on namespaces)`} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in:\n%s", want, out)
			}
		}
	})
	t.Run("The text report lists what could not be read.", func(t *testing.T) {
		c := mixedCluster(t)
		c.kube.PrependReactor("list", "pods", forbidden(podsResource))
		out, _, _ := c.audit(t, "-n", "shop")
		for _, want := range []string{"Could not read:\n  cannot list pods in namespace \"shop\": forbidden (needs \"list\" on pods)",
			"  incomplete: see what could not be read below", "The report is incomplete"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in:\n%s", want, out)
			}
		}
	})
	t.Run("When the server version cannot be read, hooks fall back to exec with a note.", func(t *testing.T) {
		c := mixedCluster(t)
		c.kube.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewInternalError(errors.New("etcd is slow"))
		})
		out, _, err := c.audit(t, "-n", "sandbox")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"API server of unknown version; injected preStop hooks use the exec action.",
			`cannot read the server version (Internal error occurred: etcd is slow), so preStop hooks are reported as exec "sleep N"`} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in:\n%s", want, out)
			}
		}
	})
}

func TestAuditRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"-n and -A together are ambiguous.", []string{"-n", "x", "-A"}, "-n names one namespace"},
		{"An unknown output format is refused.", []string{"-o", "yaml"}, "--output must be text or json"},
		{"An unknown scope is refused.", []string{"--scope", "all"}, "--scope must be optIn or cluster"},
		{"A default mode other than enforce or audit is refused.", []string{"--default-mode", "off"}, "--default-mode must be enforce or audit"},
		{"A selector that does not parse is refused.", []string{"--selector", "a in (b"}, "--selector"},
		{"Positional arguments are refused.", []string{"shop"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := mixedCluster(t).audit(t, tt.args...)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want a usage error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestAuditNeedsAWebhookNameWhenSeveralInstallsExist(t *testing.T) {
	second := chartWebhooks(t, map[string]any{"fullnameOverride": "gracekeeper-b", "scope": "cluster"})
	objects := append(append(chartWebhooks(t, nil), second...), namespaceObj("plain", ""))
	c := newTestCluster(objects...)
	if _, _, err := c.audit(t, "-A"); err != nil {
		t.Fatalf("the configuration named like --webhook-name (default gracekeeper) is chosen; got %v", err)
	}
	out, _, err := c.audit(t, "-n", "plain", "--webhook-name", "gracekeeper-b")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "namespace plain: enforce (no gracekeeper.io/mode label)") {
		t.Errorf("with --webhook-name gracekeeper-b, the cluster-wide install decides:\n%s", out)
	}
	_, _, err = c.audit(t, "-A", "--webhook-name", "other")
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "choose one with --webhook-name") {
		t.Errorf("two installs and no matching name must be a usage error, got %v", err)
	}
}

func TestProgressLineIsDrawnOnlyForLongScansAndCleared(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "tty")
	if err != nil {
		t.Fatal(err)
	}
	p := newProgressLine(f)
	p.update(func() string { return "quick" })
	p.started = p.started.Add(-2 * progressDelay)
	p.update(func() string { return "1 deployment" })
	p.update(func() string { return "redrawn too soon" })
	p.done()
	got, _ := os.ReadFile(f.Name())
	if want := "\r\033[Kscanning: 1 deployment\r\033[K"; string(got) != want {
		t.Errorf("progress output %q, want %q", got, want)
	}
}

// The pod findings are the engine's own: same message and patch as the webhook's.
func TestAuditPodFindingsAreThePodsOwnPatches(t *testing.T) {
	out, _, err := mixedCluster(t).audit(t, "-n", "sandbox", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var report auditReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	pods := report.Namespaces[0].Pods
	if len(pods) != 1 || pods[0].Name != "debug" || pods[0].Owner != "" {
		t.Fatalf("want the bare pod debug, got %+v", pods)
	}
	f := pods[0].Findings[0]
	if f.Rule != policies.RulePreStopHook || f.OnPods || len(f.Patch) != 1 || f.Patch[0].Path != "/spec/containers/0/lifecycle" {
		t.Errorf("a pod's finding patches the pod itself, got %+v", f)
	}
}

// Audit lists the pods whose shutdown the rules protect, as force-delete and
// pod-delete judge them: a pod stuck in ImagePullBackOff or CrashLoopBackOff
// (no container running) or a Job's is not one (field case N04's kind).
func TestAuditListsOnlyPodsWhoseShutdownIsProtected(t *testing.T) {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}
	waiting := func(p *corev1.Pod, phase corev1.PodPhase, reason string) *corev1.Pod {
		p.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}}
		return p
	}
	running := podObj("shop", "serving", "", spec)
	running.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	job := podObj("shop", "migrate-x7k2p", "Job/migrate", spec)
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	out, _, err := newTestCluster(namespaceObj("shop", "audit"), running, job,
		waiting(podObj("shop", "pulling", "", spec), corev1.PodPending, "ImagePullBackOff"),
		waiting(podObj("shop", "crashing", "", spec), corev1.PodRunning, "CrashLoopBackOff")).
		audit(t, "-n", "shop", "-o", "json")
	if err != nil && !errors.Is(err, cli.ErrFindings) {
		t.Fatal(err)
	}
	var report auditReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	ns := report.Namespaces[0]
	if len(ns.Pods) != 1 || ns.Pods[0].Name != "serving" || ns.Summary.Pods != 1 {
		t.Errorf("want only the serving pod listed and counted, got %+v (counted %d)", ns.Pods, ns.Summary.Pods)
	}
}

// The restart command audit prints for a pod's owner is one that works for
// it: none for an OnDelete StatefulSet (rollout restart changes no pod), the
// rollout restart for a RollingUpdate one (fault kind 4).
func TestAuditRestartCommandFollowsTheOwnersStrategy(t *testing.T) {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}
	onDelete := statefulSetObj("shop", "db", spec)
	onDelete.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	rolling := statefulSetObj("shop", "cache", spec)
	out, _, err := newTestCluster(namespaceObj("shop", "audit"), onDelete, rolling,
		podObj("shop", "db-0", "StatefulSet/db", spec), podObj("shop", "cache-0", "StatefulSet/cache", spec)).
		audit(t, "-n", "shop")
	if err != nil && !errors.Is(err, cli.ErrFindings) {
		t.Fatal(err)
	}
	if !strings.Contains(out, "statefulset/cache: 1 pod (kubectl -n shop rollout restart statefulset/cache)\n") ||
		!strings.Contains(out, "statefulset/db: 1 pod\n") {
		t.Errorf("want the rollout restart for statefulset/cache only, got:\n%s", out)
	}
}

// TestAuditJudgesArgoRollouts: a Rollout, listed with the dynamic client
// where discovery serves rollouts, is judged as the webhook judges it; a
// cluster without Argo Rollouts (the other tests' fakes) is not asked.
func TestAuditJudgesArgoRollouts(t *testing.T) {
	c := newTestCluster(append(chartWebhooks(t, nil), namespaceObj("shop", "enforce"))...)
	c.kube.Resources = append(c.kube.Resources, &metav1.APIResourceList{GroupVersion: "argoproj.io/v1alpha1",
		APIResources: []metav1.APIResource{{Name: "rollouts", Namespaced: true, Kind: "Rollout"}}})
	rollout := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "checkout", "namespace": "shop"},
		"spec": map[string]any{
			"replicas": int64(3),
			"strategy": map[string]any{"canary": map[string]any{"maxUnavailable": "100%", "maxSurge": int64(0)}},
			"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "checkout", "image": "checkout:1"}}}},
		},
	}}
	if _, err := c.dynamic.Resource(rolloutsResource).Namespace("shop").Create(context.Background(), rollout, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.audit(t, "-n", "shop", "-o", "json")
	if err != nil && !strings.Contains(err.Error(), "exit") {
		t.Fatal(err)
	}
	var report auditReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(report.Problems) != 0 {
		t.Errorf("problems %+v, want none", report.Problems)
	}
	var rules []policies.RuleID
	for _, w := range report.Namespaces[0].Workloads {
		if w.Kind == "Rollout" && w.Name == "checkout" {
			for _, f := range w.Findings {
				rules = append(rules, f.Rule)
			}
		}
	}
	if !slices.Contains(rules, policies.RuleRollingUpdate) || !slices.Contains(rules, policies.RulePreStopHook) {
		t.Errorf("rollout/checkout findings %v, want rolling-update and prestop-hook", rules)
	}
}
