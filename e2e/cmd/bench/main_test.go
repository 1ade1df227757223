package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func TestParseOptions(t *testing.T) {
	tests := map[string]struct {
		args      []string
		wantParts []string
		wantErr   string
	}{
		"No flags run every part with the documented sizes.": {nil, allParts, ""},
		"Parts can be picked.":                               {[]string{"-parts", "go,load"}, []string{"go", "load"}, ""},
		"An unknown part is refused, naming the known ones.": {[]string{"-parts", "go,disk"}, nil, `unknown part "disk", want some of go, load, apiserver`},
		"A count of zero is refused.":                        {[]string{"-count", "0"}, nil, "must be positive"},
		"A stray argument is refused.":                       {[]string{"now"}, nil, "unexpected arguments"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			opts, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(opts.parts, ",") != strings.Join(tt.wantParts, ",") {
				t.Errorf("parts = %v, want %v", opts.parts, tt.wantParts)
			}
			if tt.args == nil && (opts.count != 6 || opts.creates != 1000 || opts.out != "docs/benchmarks.md") {
				t.Errorf("defaults: count %d, creates %d, out %s", opts.count, opts.creates, opts.out)
			}
		})
	}
}

func TestShellJoinQuotesWhatAShellWouldExpand(t *testing.T) {
	got := shellJoin([]string{"test", "-run", "^$", "-bench", "^(A|B)$", "./webhook"})
	if want := `test -run '^$' -bench '^(A|B)$' ./webhook`; got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}

func TestParseSampleReadsAKubewebhookHistogramLine(t *testing.T) {
	name, labels, value, ok := parseSample(`kubewebhook_mutating_webhook_review_duration_seconds_sum{dry_run="true",mutated="true",operation="create",resource_kind="v1/Pod",resource_namespace="",success="true",webhook_id="mutate-enforce",webhook_version="v1"} 0.25` + "\n")
	if !ok || name != "kubewebhook_mutating_webhook_review_duration_seconds_sum" || value != 0.25 {
		t.Fatalf("parseSample = %q %v %v %v", name, labels, value, ok)
	}
	if labels["resource_kind"] != "v1/Pod" || labels["webhook_id"] != "mutate-enforce" || labels["resource_namespace"] != "" {
		t.Errorf("labels = %v", labels)
	}
	if _, _, _, ok := parseSample("# HELP kubewebhook_x help\n"); ok {
		t.Error("a comment line was read as a sample")
	}
}

// The in-tree policies are checked against the API server by the benchmark
// itself; this catches a field that does not exist without one.
func TestInTreePoliciesDecodeStrictly(t *testing.T) {
	kinds := map[string]any{
		"MutatingAdmissionPolicy":          &admissionregistrationv1.MutatingAdmissionPolicy{},
		"MutatingAdmissionPolicyBinding":   &admissionregistrationv1.MutatingAdmissionPolicyBinding{},
		"ValidatingAdmissionPolicy":        &admissionregistrationv1.ValidatingAdmissionPolicy{},
		"ValidatingAdmissionPolicyBinding": &admissionregistrationv1.ValidatingAdmissionPolicyBinding{},
	}
	seen := map[string]bool{}
	for _, doc := range strings.Split(inTreePolicies, "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		into, ok := kinds[meta.Kind]
		if !ok {
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Errorf("%s: %v", meta.Kind, err)
		}
		seen[meta.Kind] = true
	}
	if len(seen) != len(kinds) {
		t.Errorf("policies hold %v, want one of each of the four kinds", seen)
	}
}

func TestAdmissionStepsAreMeansOfTheHistograms(t *testing.T) {
	apiServer := `# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_sum{name="enforce.mutate.gracekeeper.io",operation="CREATE",rejected="false",type="admit"} 3
apiserver_admission_webhook_admission_duration_seconds_count{name="enforce.mutate.gracekeeper.io",operation="CREATE",rejected="false",type="admit"} 1000
apiserver_admission_webhook_admission_duration_seconds_sum{name="enforce.mutate.gracekeeper.io",operation="CREATE",rejected="true",type="admit"} 1
apiserver_admission_webhook_admission_duration_seconds_count{name="enforce.mutate.gracekeeper.io",operation="CREATE",rejected="true",type="admit"} 500
apiserver_admission_webhook_admission_duration_seconds_sum{name="namespaces.validate.gracekeeper.io",operation="CREATE",rejected="true",type="validating"} 0.01
apiserver_admission_webhook_admission_duration_seconds_count{name="namespaces.validate.gracekeeper.io",operation="CREATE",rejected="true",type="validating"} 2
apiserver_mutating_admission_policy_check_duration_seconds_sum{error_type="no_error",policy="bench-graceful-pods",policy_binding="bench-graceful-pods"} 0.5
apiserver_mutating_admission_policy_check_duration_seconds_count{error_type="no_error",policy="bench-graceful-pods",policy_binding="bench-graceful-pods"} 1000
apiserver_validating_admission_policy_check_duration_seconds_sum{enforcement_action="deny",error_type="no_error",policy="bench-rolling-updates",policy_binding="bench-rolling-updates"} 0.001
apiserver_validating_admission_policy_check_duration_seconds_count{enforcement_action="deny",error_type="no_error",policy="bench-rolling-updates",policy_binding="bench-rolling-updates"} 2
`
	gracekeeper := `kubewebhook_mutating_webhook_review_duration_seconds_sum{dry_run="true",mutated="true",operation="create",resource_kind="v1/Pod",resource_namespace="",success="true",webhook_id="mutate-enforce",webhook_version="v1"} 0.8
kubewebhook_mutating_webhook_review_duration_seconds_count{dry_run="true",mutated="true",operation="create",resource_kind="v1/Pod",resource_namespace="",success="true",webhook_id="mutate-enforce",webhook_version="v1"} 1000
`
	var got []string
	for _, s := range admissionSteps(apiServer, gracekeeper) {
		got = append(got, fmt.Sprintf("%s: %d, %s", s.what, s.calls, s.mean))
	}
	want := []string{
		"kube-apiserver: webhook call, enforce.mutate.gracekeeper.io: 1500, 2.666666ms",
		"gracekeeper: mutating review, v1/Pod: 1000, 800µs",
		"kube-apiserver: one mutation of MutatingAdmissionPolicy bench-graceful-pods: 1000, 500µs",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCallsSinceAreTheCallsBetweenTwoReadings(t *testing.T) {
	reading := func(fast, slow, sum float64) string {
		var b strings.Builder
		for _, op := range []string{"CREATE", "UPDATE"} {
			fmt.Fprintf(&b, "%s_bucket{name=\"enforce.mutate.gracekeeper.io\",operation=%q,rejected=\"false\",type=\"admit\",le=\"0.005\"} %g\n", webhookCallMetric, op, fast)
			fmt.Fprintf(&b, "%s_bucket{name=\"enforce.mutate.gracekeeper.io\",operation=%q,rejected=\"false\",type=\"admit\",le=\"0.025\"} %g\n", webhookCallMetric, op, fast+slow)
			fmt.Fprintf(&b, "%s_bucket{name=\"enforce.mutate.gracekeeper.io\",operation=%q,rejected=\"false\",type=\"admit\",le=\"+Inf\"} %g\n", webhookCallMetric, op, fast+slow)
			fmt.Fprintf(&b, "%s_sum{name=\"enforce.mutate.gracekeeper.io\",operation=%q,rejected=\"false\",type=\"admit\"} %g\n", webhookCallMetric, op, sum)
			fmt.Fprintf(&b, "%s_count{name=\"enforce.mutate.gracekeeper.io\",operation=%q,rejected=\"false\",type=\"admit\"} %g\n", webhookCallMetric, op, fast+slow)
		}
		return b.String()
	}
	// Before: 10 calls of each operation, 0.02 s in all; after: 30 more of
	// each, 27 under 5 ms and 3 under 25 ms, 0.09 s more.
	calls := callsSince(callHistograms(reading(10, 0, 0.02)), callHistograms(reading(37, 3, 0.11)))
	h := calls["enforce.mutate.gracekeeper.io"]
	if len(calls) != 1 || h == nil {
		t.Fatalf("calls = %v, want gracekeeper's mutating webhook only", calls)
	}
	if h.count != 60 || h.mean() != 3*time.Millisecond {
		t.Errorf("count %g, mean %s; want 60 calls of 3ms on average", h.count, h.mean())
	}
	if h.buckets[0.005] != 54 || h.buckets[0.025] != 60 || len(h.bounds()) != 2 {
		t.Errorf("buckets %v, want 54 calls within 5 ms and 60 within 25 ms (+Inf left out)", h.buckets)
	}
	if n := gracekeeperCalls(calls); n != 60 {
		t.Errorf("gracekeeperCalls = %d, want 60", n)
	}
}

func TestWriteCallsComparesEachCallWithTheMinimalWebhooksSameCall(t *testing.T) {
	calls := func(count, sum float64) *callHistogram {
		return &callHistogram{buckets: map[float64]float64{0.005: count, 0.025: count}, count: count, sum: sum}
	}
	run := apiRun{kind: kindDeployment, calls: map[string]*callHistogram{
		"enforce.mutate.gracekeeper.io":       calls(10, 0.030),
		"enforce.validate.gracekeeper.io":     calls(10, 0.012),
		"empty.mutate.floor.gracekeeper.io":   calls(10, 0.020),
		"empty.validate.floor.gracekeeper.io": calls(10, 0.010),
		"patch.validate.floor.gracekeeper.io": calls(10, 0.011),
		"namespaces.validate.gracekeeper.io":  calls(1, 0.001),
	}}
	var b bytes.Buffer
	writeCalls(&b, run)
	for _, want := range []string{
		"| enforce.mutate.gracekeeper.io | 10 | 3.000 ms | 1.500× | 100.0% |",
		"| enforce.validate.gracekeeper.io | 10 | 1.200 ms | 1.200× | 100.0% |",
		"| patch.validate.floor.gracekeeper.io | 10 | 1.100 ms | – | 100.0% |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("writeCalls wrote\n%s\nwant a row %s", b.String(), want)
		}
	}
	if strings.Contains(b.String(), "namespaces.") || strings.Contains(b.String(), "25ms") {
		t.Errorf("writeCalls wrote\n%s\nwant neither the namespace check nor bounds past the first that holds every call", b.String())
	}
}
