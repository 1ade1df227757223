//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The "gracekeeper audit" scenario: workloads that predate enforcement, new
// ones, audit-mode ones and unlabelled ones, each namespace labelled
// gracekeeper-e2e=audit so that the scan sees only them.
const auditSelector = "gracekeeper-e2e=audit"

// auditNamespace creates a namespace of the scenario; mode "" leaves it
// unlabelled.
func auditNamespace(t *testing.T, name, mode string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"gracekeeper-e2e": "audit"}}}
	if mode != "" {
		ns.Labels["gracekeeper.io/mode"] = mode
	}
	if _, err := env.cluster.Client().CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNamespace(name) })
	if mode != "" {
		waitForMode(t, name, mode)
	}
}

// auditRun is one run of the gracekeeper binary.
type auditRun struct {
	stdout, stderr string
	exitCode       int
}

// runAuditCommand runs "gracekeeper audit" against the shared cluster.
func runAuditCommand(t *testing.T, args ...string) auditRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, env.binary, append([]string{"audit"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.cluster.Kubeconfig)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := auditRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.exitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("run gracekeeper audit: %v", err)
	}
	return run
}

// podNames hides the random suffixes of ReplicaSet pods, so reports compare exactly.
var podNames = regexp.MustCompile(`(legacy|web|api)-[0-9a-z]{6,10}-[0-9a-z]{5}`)

func TestAuditCommandReportsWhatEnforceModeWouldDo(t *testing.T) {
	// audit-enforce: legacy predates enforcement (Recreate, pods without
	// hooks); web is created in enforce mode, so its pods get hooks and a
	// longer grace period, but its template keeps neither.
	auditNamespace(t, "audit-enforce", "")
	mustKubectlIn(t, auditDeployment("legacy", 2, "Recreate", "", ""), "-n", "audit-enforce", "apply", "-f", "-")
	rolloutStatus(t, "audit-enforce", "deployment/legacy")
	mustKubectl(t, "label", "namespace", "audit-enforce", "gracekeeper.io/mode=enforce")
	waitForMode(t, "audit-enforce", "enforce")
	mustKubectlIn(t, auditDeployment("web", 2, "RollingUpdate", "terminationGracePeriodSeconds: 10", ""), "-n", "audit-enforce", "apply", "-f", "-")
	rolloutStatus(t, "audit-enforce", "deployment/web")

	// audit-audit: an OnDelete StatefulSet, admitted unchanged with warnings.
	auditNamespace(t, "audit-audit", "audit")
	mustKubectlIn(t, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: OnDelete}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
`, "-n", "audit-audit", "apply", "-f", "-")

	// audit-plain: not covered; a graceful Deployment and a bare pod.
	auditNamespace(t, "audit-plain", "")
	mustKubectlIn(t, auditDeployment("api", 1, "RollingUpdate", "",
		"readinessProbe: {httpGet: {path: /ready, port: 8080}}\n        lifecycle: {preStop: {sleep: {seconds: 5}}}"), "-n", "audit-plain", "apply", "-f", "-")
	mustKubectl(t, "-n", "audit-plain", "run", "debug", "--image=busybox", "--", "sleep", "infinity")
	rolloutStatus(t, "audit-plain", "deployment/api")
	eventually(t, time.Minute, "pods db-0 and debug to run", func() (bool, error) {
		for ns, name := range map[string]string{"audit-audit": "db-0", "audit-plain": "debug"} {
			p, err := env.cluster.Client().CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err != nil || p.Status.Phase != corev1.PodRunning {
				return false, err
			}
		}
		return true, nil
	})

	t.Run("the text report is exact", func(t *testing.T) {
		run := runAuditCommand(t, "--selector", auditSelector)
		if run.exitCode != 0 {
			t.Fatalf("exit %d, want 0 without --exit-code; stderr:\n%s", run.exitCode, run.stderr)
		}
		policytest.Golden(t, "testdata/audit/report.txt", []byte(run.stdout))
	})

	var report auditJSON
	t.Run("the JSON report is exact", func(t *testing.T) {
		run := runAuditCommand(t, "--selector", auditSelector, "-o", "json", "--exit-code")
		if run.exitCode != 1 {
			t.Fatalf("exit %d, want 1: enforce would deny the Recreate Deployment and the OnDelete StatefulSet; stderr:\n%s", run.exitCode, run.stderr)
		}
		policytest.Golden(t, "testdata/audit/report.json", []byte(podNames.ReplaceAllString(run.stdout, "$1-<pod>")))
		if err := json.Unmarshal([]byte(run.stdout), &report); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the audited pod patch is what the webhook does to a new pod of the same template", func(t *testing.T) {
		comparePodPatches(t, &report, "audit-enforce", "web")
	})

	t.Run("after a rollout restart in enforce mode, legacy's pods carry exactly the audited patch", func(t *testing.T) {
		mustKubectl(t, "-n", "audit-enforce", "rollout", "restart", "deployment/legacy")
		rolloutStatus(t, "audit-enforce", "deployment/legacy")
		comparePodPatches(t, &report, "audit-enforce", "legacy")
		eventually(t, time.Minute, "the old legacy pods to go", func() (bool, error) {
			return len(pods(t, "audit-enforce", "legacy")) == 2, nil
		})
		run := runAuditCommand(t, "-n", "audit-enforce", "-o", "json")
		var after auditJSON
		if err := json.Unmarshal([]byte(run.stdout), &after); err != nil {
			t.Fatalf("%v\n%s", err, run.stdout)
		}
		if n := after.Namespaces[0].Summary.PodsWithoutPreStop; n != 0 {
			t.Errorf("after the restart, %d pods still lack a preStop hook:\n%s", n, run.stdout)
		}
	})

	t.Run("PolicyReports are skipped without their CRD, then written", func(t *testing.T) {
		run := runAuditCommand(t, "--selector", auditSelector, "--write-reports")
		assertContains(t, "audit without the CRD", run.stdout,
			"PolicyReports not written: neither report CRD is installed: reports.openreports.io (v1alpha1), policyreports.wgpolicyk8s.io (v1alpha2).")
		mustKubectlIn(t, policyReportCRD, "apply", "-f", "-")
		t.Cleanup(func() { kubectl(t, "delete", "crd", "policyreports.wgpolicyk8s.io", "--wait=false") })
		mustKubectl(t, "wait", "--for=condition=Established", "crd/policyreports.wgpolicyk8s.io", "--timeout=60s")
		eventually(t, 30*time.Second, "the PolicyReport API to be served", func() (bool, error) {
			return kubectl(t, "get", "policyreports.v1alpha2.wgpolicyk8s.io", "-n", "audit-plain").err == nil, nil
		})
		run = runAuditCommand(t, "--selector", auditSelector, "--write-reports")
		assertContains(t, "audit with the CRD", run.stdout, "PolicyReport gracekeeper written in audit-audit, audit-enforce, audit-plain.")
		var pr struct {
			Summary map[string]int `json:"summary"`
			Results []struct {
				Rule, Result, Severity string
				Resources              []corev1.ObjectReference
				Properties             map[string]string
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(mustKubectl(t, "-n", "audit-audit", "get", "policyreport", "gracekeeper", "-o", "json").stdout), &pr); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"pass": 0, "fail": 1, "warn": 3, "error": 0, "skip": 0}
		if !reflect.DeepEqual(pr.Summary, want) {
			t.Errorf("summary %v, want %v", pr.Summary, want)
		}
		var got []string
		for _, r := range pr.Results {
			got = append(got, r.Rule+"="+r.Result+"/"+r.Severity+" "+r.Resources[0].Kind+"/"+r.Resources[0].Name)
		}
		wantResults := []string{"update-strategy=fail/high StatefulSet/db", "prestop-hook=warn/medium StatefulSet/db",
			"readiness-probe=warn/low StatefulSet/db", "prestop-hook=warn/medium Pod/db-0"}
		if strings.Join(got, "\n") != strings.Join(wantResults, "\n") {
			t.Errorf("results, as stored by the API server under the v1alpha2 schema:\n got %q\nwant %q", got, wantResults)
		}
		if uid := pr.Results[0].Resources[0].UID; uid == "" {
			t.Error("results must name the resource's uid")
		}
		if p := pr.Results[1].Properties["patch"]; !strings.Contains(p, `"path":"/spec/template/spec/containers/0/lifecycle"`) {
			t.Errorf("the would-be patch must be in the result's properties, got %q", p)
		}
	})

	t.Run("OpenReports are written where served, with exempted findings as skip", func(t *testing.T) {
		mustKubectlIn(t, openReportsCRD, "apply", "-f", "-")
		t.Cleanup(func() { kubectl(t, "delete", "crd", "reports.openreports.io", "--wait=false") })
		mustKubectl(t, "wait", "--for=condition=Established", "crd/reports.openreports.io", "--timeout=60s")
		eventually(t, 30*time.Second, "the OpenReports API to be served", func() (bool, error) {
			return kubectl(t, "get", "reports.v1alpha1.openreports.io", "-n", "audit-plain").err == nil, nil
		})
		mustKubectl(t, "-n", "audit-audit", "annotate", "statefulset", "db", "--overwrite",
			"gracekeeper.io/exempt=update-strategy", "gracekeeper.io/exempt-reason=the operator rolls it")
		t.Cleanup(func() {
			kubectl(t, "-n", "audit-audit", "annotate", "statefulset", "db", "gracekeeper.io/exempt-", "gracekeeper.io/exempt-reason-")
		})
		run := runAuditCommand(t, "--selector", auditSelector, "--write-reports")
		assertContains(t, "audit with OpenReports", run.stdout,
			"Report gracekeeper (openreports.io/v1alpha1) written in audit-audit, audit-enforce, audit-plain.")
		var report struct {
			Source  string         `json:"source"`
			Summary map[string]int `json:"summary"`
			Results []struct {
				Rule, Result, Message string
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(mustKubectl(t, "-n", "audit-audit", "get", "reports.openreports.io", "gracekeeper", "-o", "json").stdout), &report); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"pass": 0, "fail": 0, "warn": 3, "error": 0, "skip": 1}
		if report.Source != "gracekeeper" || !reflect.DeepEqual(report.Summary, want) {
			t.Errorf("source %q, summary %v, want gracekeeper and %v", report.Source, report.Summary, want)
		}
		var skipped []string
		for _, r := range report.Results {
			if r.Result == "skip" {
				skipped = append(skipped, r.Rule+": "+r.Message)
			}
		}
		if len(skipped) != 1 || skipped[0] != "update-strategy: exempted by gracekeeper.io/exempt: the operator rolls it" {
			t.Errorf("skipped results %q", skipped)
		}
	})
}

func TestAuditCommandGivesAPartialReportToAUserWhoMayOnlyListDeployments(t *testing.T) {
	// Not labelled gracekeeper-e2e=audit: the other scan must not see it.
	mustKubectl(t, "create", "namespace", "audit-rbac")
	t.Cleanup(func() { kubectl(t, "delete", "namespace", "audit-rbac", "--wait=false") })
	mustKubectlIn(t, auditDeployment("api", 1, "RollingUpdate", "", ""), "-n", "audit-rbac", "apply", "-f", "-")
	mustKubectl(t, "create", "clusterrole", "audit-e2e-list-deployments", "--verb=list", "--resource=deployments.apps")
	mustKubectl(t, "create", "clusterrolebinding", "audit-e2e-list-deployments", "--clusterrole=audit-e2e-list-deployments", "--user=audit-reader")
	t.Cleanup(func() {
		kubectl(t, "delete", "clusterrolebinding,clusterrole", "audit-e2e-list-deployments")
	})
	waitForAccess(t, "audit-reader", "list", "deployments.apps", "audit-rbac")

	// The admin impersonates the user, in a context of its own.
	config, err := clientcmd.LoadFromFile(env.cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	current := config.Contexts[config.CurrentContext]
	reader := config.AuthInfos[current.AuthInfo].DeepCopy()
	reader.Impersonate = "audit-reader"
	config.AuthInfos["audit-reader"] = reader
	readerContext := current.DeepCopy()
	readerContext.AuthInfo = "audit-reader"
	config.Contexts["audit-reader"] = readerContext
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*config, kubeconfig); err != nil {
		t.Fatal(err)
	}

	run := runAuditCommand(t, "--kubeconfig", kubeconfig, "--context", "audit-reader", "-n", "audit-rbac")
	if run.exitCode != 2 {
		t.Fatalf("exit %d, want 2 for an incomplete scan; stderr:\n%s", run.exitCode, run.stderr)
	}
	assertContains(t, "stderr", run.stderr, "gracekeeper audit: the report is incomplete: 4 requests failed, see the report")
	policytest.Golden(t, "testdata/audit/rbac.txt", []byte(run.stdout))
}

// auditJSON is what the tests read of "audit -o json".
type auditJSON struct {
	Namespaces []struct {
		Name      string `json:"name"`
		Workloads []struct {
			Kind     string `json:"kind"`
			Name     string `json:"name"`
			Findings []struct {
				Rule   string            `json:"rule"`
				OnPods bool              `json:"onPods"`
				Patch  []json.RawMessage `json:"patch"`
			} `json:"findings"`
		} `json:"workloads"`
		Summary struct {
			PodsWithoutPreStop int `json:"podsWithoutPreStop"`
		} `json:"summary"`
	} `json:"namespaces"`
}

// comparePodPatches applies the audited pod-template patches of a Deployment
// to the Deployment as stored, and checks that a running pod of it has the
// same preStop hooks and grace period: the webhook did to the pod exactly
// what the audit said it would.
func comparePodPatches(t *testing.T, report *auditJSON, ns, name string) {
	t.Helper()
	var ops []json.RawMessage
	for _, n := range report.Namespaces {
		for _, w := range n.Workloads {
			if n.Name != ns || w.Kind != "Deployment" || w.Name != name {
				continue
			}
			for _, f := range w.Findings {
				if f.OnPods {
					ops = append(ops, f.Patch...)
				}
			}
		}
	}
	if len(ops) == 0 {
		t.Fatalf("the report has no pod patches for deployment %s/%s", ns, name)
	}
	patchJSON, _ := json.Marshal(ops)
	patch, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	storedJSON, _ := json.Marshal(stored)
	patchedJSON, err := patch.Apply(storedJSON)
	if err != nil {
		t.Fatalf("the audited patch does not apply to the stored Deployment: %v", err)
	}
	var patched appsv1.Deployment
	if err := json.Unmarshal(patchedJSON, &patched); err != nil {
		t.Fatal(err)
	}
	live := pods(t, ns, name)
	if len(live) == 0 {
		t.Fatalf("deployment %s/%s has no pods", ns, name)
	}
	for _, pod := range live {
		want, got := patched.Spec.Template.Spec, pod.Spec
		if !reflect.DeepEqual(want.TerminationGracePeriodSeconds, got.TerminationGracePeriodSeconds) {
			t.Errorf("pod %s: terminationGracePeriodSeconds %v, the audited patch gives %v", pod.Name, *got.TerminationGracePeriodSeconds, *want.TerminationGracePeriodSeconds)
		}
		for i := range want.Containers {
			if !reflect.DeepEqual(want.Containers[i].Lifecycle, got.Containers[i].Lifecycle) {
				w, _ := json.Marshal(want.Containers[i].Lifecycle)
				g, _ := json.Marshal(got.Containers[i].Lifecycle)
				t.Errorf("pod %s container %s: lifecycle %s, the audited patch gives %s", pod.Name, got.Containers[i].Name, g, w)
			}
		}
	}
}

// auditDeployment is a Deployment manifest; podSpec and container are extra
// lines of the pod spec and of its one container.
func auditDeployment(name string, replicas int, strategy, podSpec, container string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  strategy: {type: %[3]s}
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      %[4]s
      containers:
      - name: %[1]s
        image: nginx:1.27
        %[5]s
`, name, replicas, strategy, podSpec, container)
}

// policyReportCRD is wgpolicyk8s.io/v1alpha2 PolicyReport with the schema of
// the policy working group's CRD, so the API server prunes and rejects what
// the schema does not allow.
var policyReportCRD = reportCRD("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports", "polr")

// openReportsCRD is openreports.io/v1alpha1 Report: the same results, and a
// source at the top (openreports/reports-api's Report type).
var openReportsCRD = strings.Replace(reportCRD("openreports.io", "v1alpha1", "Report", "reports", "reps"),
	"          scope:\n", "          source: {type: string}\n          scope:\n", 1)

func reportCRD(group, version, kind, plural, short string) string {
	return fmt.Sprintf(reportCRDTemplate, group, version, kind, plural, strings.ToLower(kind), short)
}

const reportCRDTemplate = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[4]s.%[1]s}
spec:
  group: %[1]s
  names: {kind: %[3]s, listKind: %[3]sList, plural: %[4]s, singular: %[5]s, shortNames: [%[6]s]}
  scope: Namespaced
  versions:
  - name: %[2]s
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          scope:
            type: object
            properties:
              apiVersion: {type: string}
              kind: {type: string}
              name: {type: string}
              namespace: {type: string}
              uid: {type: string}
          summary:
            type: object
            properties:
              pass: {type: integer}
              fail: {type: integer}
              warn: {type: integer}
              error: {type: integer}
              skip: {type: integer}
          results:
            type: array
            items:
              type: object
              required: [policy]
              properties:
                policy: {type: string}
                rule: {type: string}
                category: {type: string}
                message: {type: string}
                source: {type: string}
                scored: {type: boolean}
                result: {type: string, enum: [pass, fail, warn, error, skip]}
                severity: {type: string, enum: [critical, high, low, medium, info]}
                properties:
                  type: object
                  additionalProperties: {type: string}
                timestamp:
                  type: object
                  required: [seconds, nanos]
                  properties:
                    seconds: {type: integer, format: int64}
                    nanos: {type: integer, format: int32}
                resources:
                  type: array
                  items:
                    type: object
                    properties:
                      apiVersion: {type: string}
                      kind: {type: string}
                      name: {type: string}
                      namespace: {type: string}
                      uid: {type: string}
                      resourceVersion: {type: string}
                      fieldPath: {type: string}
`
