package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// The policy is read and judged by the API server's own code: the writes
// gracekeeper receives are logged at Metadata level (their annotations
// included), the rest of the traffic not at all.
func TestAuditPolicyLogsTheWritesGracekeeperReceivesAndNothingElse(t *testing.T) {
	c := &Cluster{Dir: t.TempDir()}
	args, err := c.auditArgs()
	if err != nil {
		t.Fatal(err)
	}
	if want := "--audit-policy-file=" + filepath.Join(c.Dir, "audit-policy.yaml"); args[0] != want {
		t.Fatalf("args[0] = %q, want %q", args[0], want)
	}
	data, err := os.ReadFile(filepath.Join(c.Dir, "audit-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadPolicyFromBytes(data)
	if err != nil {
		t.Fatalf("the API server rejects the policy: %v\n%s", err, data)
	}
	evaluator := policy.NewPolicyRuleEvaluator(p)
	admin := &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}}
	for _, tc := range []struct {
		verb, group, resource, sub string
		want                       auditinternal.Level
	}{
		{"create", "", "pods", "", auditinternal.LevelMetadata},
		{"create", "", "pods", "eviction", auditinternal.LevelMetadata},
		{"delete", "", "pods", "", auditinternal.LevelMetadata},
		{"patch", "apps", "deployments", "scale", auditinternal.LevelMetadata},
		{"update", "apps", "statefulsets", "", auditinternal.LevelMetadata},
		{"delete", "apps", "replicasets", "", auditinternal.LevelMetadata},
		{"delete", "", "namespaces", "", auditinternal.LevelMetadata},
		{"create", "", "namespaces", "", auditinternal.LevelMetadata},
		// What the controllers and kwok do most, and gracekeeper never sees.
		{"get", "apps", "deployments", "", auditinternal.LevelNone},
		{"watch", "", "pods", "", auditinternal.LevelNone},
		{"patch", "", "pods", "status", auditinternal.LevelNone},
		{"update", "coordination.k8s.io", "leases", "", auditinternal.LevelNone},
		{"create", "", "events", "", auditinternal.LevelNone},
		{"update", "", "pods", "", auditinternal.LevelNone},
	} {
		attrs := authorizer.AttributesRecord{User: admin, Verb: tc.verb, APIGroup: tc.group, Resource: tc.resource,
			Subresource: tc.sub, Namespace: "demo", ResourceRequest: true}
		got := evaluator.EvaluatePolicyRule(attrs)
		if got.Level != tc.want {
			t.Errorf("%s %s: level %q, want %q", tc.verb, strings.Trim(tc.group+"/"+tc.resource+"/"+tc.sub, "/"), got.Level, tc.want)
		}
		if got.Level != auditinternal.LevelNone && !slices.Contains(got.OmitStages, auditinternal.StageRequestReceived) {
			t.Errorf("%s %s: RequestReceived is logged too, which doubles the log", tc.verb, tc.resource)
		}
	}
}

func TestAuditEventsSkipsALineBeingWrittenAndNamesABadOne(t *testing.T) {
	c := &Cluster{Dir: t.TempDir()}
	if events, err := c.AuditEvents(); err != nil || events != nil {
		t.Fatalf("no log yet: got %v, %v; want none and no error", events, err)
	}
	if err := os.MkdirAll(filepath.Dir(c.AuditLog()), 0o755); err != nil {
		t.Fatal(err)
	}
	event := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"create",` +
		`"objectRef":{"resource":"pods","namespace":"demo","name":"web"},"responseStatus":{"code":201},` +
		`"annotations":{"enforce.mutate.gracekeeper.io/patched":"prestop-hook"}}`
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(c.AuditLog(), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(event + "\n" + `{"kind":"Ev`)
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ObjectRef.Name != "web" || events[0].ResponseStatus.Code != 201 ||
		events[0].Annotations["enforce.mutate.gracekeeper.io/patched"] != "prestop-hook" {
		t.Fatalf("got %+v, want the one complete event", events)
	}
	write(event + "\nnot json\n")
	if _, err := c.AuditEvents(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got error %v, want one naming line 2", err)
	}
}
