//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// What gracekeeper did to a request is in the API server's audit log, as
// pod-security-admission's verdicts are: each answer's auditAnnotations,
// which the API server records under "<webhook name>/<outcome>" with the
// rule ids as the value. A cluster admin reads them there, whoever made the
// request and whatever kubectl printed.
func TestAuditTrailRecordsWhatEachEntryPatchedAndDenied(t *testing.T) {
	t.Parallel()
	enforce := namespace(t, "audittrail", "enforce")
	audit := namespace(t, "audittrail-audit", "audit")

	t.Run("a pod kubectl creates records its patch", func(t *testing.T) {
		// A grace period shorter than the 5 s preStop sleep: two patches.
		mustKubectl(t, "-n", enforce, "run", "web", "--image=nginx:1.18",
			`--overrides={"spec":{"terminationGracePeriodSeconds":2}}`)
		e := auditEvent(t, "create", enforce, "pods", "", "web")
		assertAnnotation(t, e, "enforce.mutate.gracekeeper.io/patched",
			policies.RulePreStopHook, policies.RuleTerminationGracePeriod)
		assertAnnotation(t, e, "enforce.mutate.gracekeeper.io/warned", policies.RuleReadinessProbe)
		// The API server's own record of the mutation, beside gracekeeper's.
		if !mutatedBy(e, "enforce.mutate.gracekeeper.io") {
			t.Errorf("no mutation.webhook.admission.k8s.io annotation says enforce.mutate.gracekeeper.io mutated the pod:\n%s", annotations(e))
		}
	})

	t.Run("a scale to zero records its denial", func(t *testing.T) {
		mustKubectl(t, "-n", enforce, "create", "deployment", "api", "--image=nginx:1.18", "--replicas=2")
		r := kubectl(t, "-n", enforce, "scale", "deployment/api", "--replicas=0")
		deniedBy(t, r, "enforce.validate.gracekeeper.io", policies.RuleScaleToZero)
		e := auditEvent(t, "patch", enforce, "deployments", "scale", "api")
		if e.ResponseStatus == nil || e.ResponseStatus.Status != "Failure" {
			t.Errorf("the denied scale's event has response status %+v, want a Failure", e.ResponseStatus)
		}
		assertAnnotation(t, e, "enforce.validate.gracekeeper.io/denied", policies.RuleScaleToZero)
		// Nothing was patched on a denied request.
		if v, ok := e.Annotations["enforce.mutate.gracekeeper.io/patched"]; ok {
			t.Errorf("a /scale request records a patch: %q", v)
		}
	})

	t.Run("audit mode records what enforce would have done", func(t *testing.T) {
		mustKubectl(t, "-n", audit, "create", "deployment", "api", "--image=nginx:1.18", "--replicas=2")
		e := auditEvent(t, "create", audit, "deployments", "", "api")
		// The mutating entry would record the change-cause; the pods' hook
		// is what the validating entry says enforce would add.
		assertAnnotation(t, e, "audit.mutate.gracekeeper.io/would-patch", policies.RuleChangeCause)
		assertAnnotation(t, e, "audit.validate.gracekeeper.io/would-patch", policies.RulePreStopHook)
		for _, key := range []string{"audit.mutate.gracekeeper.io/patched", "audit.validate.gracekeeper.io/patched"} {
			if v, ok := e.Annotations[key]; ok {
				t.Errorf("audit mode records a patch it did not make: %s: %q", key, v)
			}
		}

		mustKubectl(t, "-n", audit, "scale", "deployment/api", "--replicas=0")
		e = auditEvent(t, "patch", audit, "deployments", "scale", "api")
		assertAnnotation(t, e, "audit.validate.gracekeeper.io/would-deny", policies.RuleScaleToZero)
		if e.ResponseStatus == nil || e.ResponseStatus.Code != 200 {
			t.Errorf("the allowed scale's event has response status %+v, want code 200", e.ResponseStatus)
		}
	})
}

// auditEvent waits for the audit event of the one answered request (not a
// dry run) of verb on a namespaced object, subresource "" for the object
// itself.
func auditEvent(t *testing.T, verb, ns, resource, subresource, name string) auditv1.Event {
	t.Helper()
	what := fmt.Sprintf("the audit event of %s %s %s/%s", verb, strings.Trim(resource+"/"+subresource, "/"), ns, name)
	var found []auditv1.Event
	eventually(t, 30*time.Second, what, func() (bool, error) {
		events, err := env.cluster.AuditEvents()
		if err != nil {
			return false, err
		}
		found = found[:0]
		for _, e := range events {
			ref := e.ObjectRef
			if e.Stage == auditv1.StageResponseComplete && e.Verb == verb && ref != nil && ref.Namespace == ns &&
				ref.Resource == resource && ref.Subresource == subresource && ref.Name == name &&
				!strings.Contains(e.RequestURI, "dryRun=") {
				found = append(found, e)
			}
		}
		return len(found) > 0, nil
	})
	if len(found) != 1 {
		t.Fatalf("%d events for %s, want 1:\n%+v", len(found), what, found)
	}
	return found[0]
}

// assertAnnotation fails unless the event's annotation key lists exactly
// rules, comma-separated, in any order.
func assertAnnotation(t *testing.T, e auditv1.Event, key string, rules ...policies.RuleID) {
	t.Helper()
	v, ok := e.Annotations[key]
	if !ok {
		t.Errorf("no annotation %s; the event has:\n%s", key, annotations(e))
		return
	}
	got := strings.Split(v, ",")
	want := make([]string, len(rules))
	for i, r := range rules {
		want[i] = string(r)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("annotation %s = %q, want the rules %q", key, v, want)
	}
}

// mutatedBy reports whether the API server recorded that the named mutating
// webhook changed the object: its mutation.webhook.admission.k8s.io/round_N_index_M
// annotation, written at Metadata level for every mutating webhook called.
func mutatedBy(e auditv1.Event, webhook string) bool {
	for k, v := range e.Annotations {
		if !strings.HasPrefix(k, "mutation.webhook.admission.k8s.io/round_") {
			continue
		}
		var call struct {
			Webhook string `json:"webhook"`
			Mutated bool   `json:"mutated"`
		}
		if json.Unmarshal([]byte(v), &call) == nil && call.Webhook == webhook && call.Mutated {
			return true
		}
	}
	return false
}

func annotations(e auditv1.Event) string {
	keys := make([]string, 0, len(e.Annotations))
	for k := range e.Annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, e.Annotations[k])
	}
	return b.String()
}
