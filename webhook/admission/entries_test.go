package admission

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

func TestEntriesNameKnownKindsAndLiveFlags(t *testing.T) {
	for _, e := range Entries() {
		for _, rc := range e.Receive {
			var scales, evicts bool
			scopes := map[admissionregistrationv1.ScopeType]bool{}
			for _, name := range rc.Kinds {
				k, ok := func() (k policies.Kind, ok bool) {
					defer func() { ok = recover() == nil }()
					return kindOf(name), true
				}()
				if !ok {
					t.Fatalf("entry %s names %s, which is not in policies.Kinds()", e.Name, name)
				}
				scales, evicts = scales || k.Scale, evicts || k.Evict
				scopes[scopeOf(k)] = true
			}
			// One rule has one scope: a Receive's kinds must share it.
			if len(scopes) > 1 {
				t.Errorf("entry %s receives %v, of different scopes: split them", e.Name, rc.Kinds)
			}
			// A flag that matches no kind would be a rule the table claims and the chart never renders.
			if rc.Scale && !scales || rc.Evict && !evicts {
				t.Errorf("entry %s receives /scale %v and /eviction %v of %v, none of which has it", e.Name, rc.Scale, rc.Evict, rc.Kinds)
			}
			if len(rc.Operations) == 0 && !rc.Scale && !rc.Evict {
				t.Errorf("entry %s receives nothing of %v", e.Name, rc.Kinds)
			}
		}
	}
}

func TestPathsAndWebhookNamesFollowTheEntriesModes(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Paths() {
		name := p.Entry.WebhookName(p.Mode)
		if seen[p.Path] || seen[name] {
			t.Errorf("path %s or name %s served twice", p.Path, name)
		}
		seen[p.Path], seen[name] = true, true
		if p.Path != p.Entry.Path(p.Mode) {
			t.Errorf("Paths() gives %s for %s in %s, Path %s", p.Path, p.Entry.Name, p.Mode, p.Entry.Path(p.Mode))
		}
	}
	for _, e := range Entries() {
		verb := map[Webhook]string{Mutating: "mutate", Validating: "validate"}[e.Webhook]
		for _, m := range e.Modes {
			want := fmt.Sprintf("/%s/%s", verb, m)
			if !e.byMode() {
				want = fmt.Sprintf("/%s/%s", verb, e.Name)
			}
			if got := e.Path(m); got != want {
				t.Errorf("%s in %s is served at %s, want %s", e.Name, m, got, want)
			}
		}
		// An entry the mode label does not choose is served once, in one mode.
		if !e.byMode() && len(e.Modes) != 1 {
			t.Errorf("%s is chosen by no mode label but judges in %v", e.Name, e.Modes)
		}
	}
	// A typo in the mode label must be denied whatever mode the namespace meant.
	if ns, _ := EntryOf(EntryNamespaces); !slices.Equal(ns.Modes, []policies.Mode{policies.ModeEnforce}) {
		t.Errorf("the namespaces entry judges in %v, want enforce only", ns.Modes)
	}
	if _, ok := EntryOf("typo"); ok {
		t.Error("EntryOf found an entry named typo")
	}
}

// The decoder decodes exactly what the configuration sends: the resources of
// an entry's rules are its targets.
func TestRulesAndTargetsNameTheSameResources(t *testing.T) {
	for _, e := range Entries() {
		var fromRules []resource
		for _, r := range e.Rules() {
			if len(r.APIGroups) != 1 || len(r.APIVersions) != 1 || r.Scope == nil {
				t.Fatalf("%s rule %+v: want one group, one version and a scope", e.Name, r)
			}
			for _, res := range r.Resources {
				name, sub, _ := strings.Cut(res, "/")
				fromRules = append(fromRules, resource{r.APIGroups[0], name, sub})
				for _, op := range r.Operations {
					if !e.Receives(r.APIGroups[0], name, sub, op) {
						t.Errorf("%s: Receives(%s %s/%s %s) = false for a rule it renders", e.Name, r.APIGroups[0], name, sub, op)
					}
				}
			}
		}
		var fromTargets []resource
		for res, tg := range targetsOf(e) {
			fromTargets = append(fromTargets, res)
			if tg.kind.GVK.Group != res.group || tg.kind.Resource != res.resource {
				t.Errorf("%s: target %+v judges %s", e.Name, res, tg.kind.GVK)
			}
		}
		cmp := func(a, b resource) int {
			return strings.Compare(a.group+"/"+a.resource+"/"+a.subResource, b.group+"/"+b.resource+"/"+b.subResource)
		}
		slices.SortFunc(fromRules, cmp)
		slices.SortFunc(fromTargets, cmp)
		if !slices.Equal(fromRules, fromTargets) {
			t.Errorf("%s: rules name %v, targets %v", e.Name, fromRules, fromTargets)
		}
	}
	validate, _ := EntryOf(EntryValidate)
	mutate, _ := EntryOf(EntryMutate)
	if mutate.Receives("apps", "deployments", "", admissionregistrationv1.Delete) || !validate.Receives("apps", "deployments", "", admissionregistrationv1.Delete) {
		t.Error("a Deployment DELETE is the validating entry's only")
	}
}

// The /scale of a ReplicaSet (bare, or orphaned by delete --cascade=orphan)
// is judged as a Deployment's is: the validating entry receives it, and the
// matchConditions skip it exactly when they skip a Deployment's.
func TestReplicaSetScaleIsJudged(t *testing.T) {
	validate, _ := EntryOf(EntryValidate)
	if !validate.Receives("apps", "replicasets", subScale, admissionregistrationv1.Update) {
		t.Fatal("the validating entry does not receive replicasets/scale")
	}
	engine := engineWith(t, "")
	scale := func(n int32) *autoscalingv1.Scale {
		return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
	}
	findings := engine.Evaluate(&policies.Review{Operation: policies.Update, Kind: "ReplicaSet", SubResource: subScale,
		Namespace: "shop", Name: "web", Object: scale(0), OldObject: scale(3), User: policies.UserInfo{Username: "alice"}})
	if !slices.ContainsFunc(findings, func(f policies.Finding) bool { return f.Rule == policies.RuleScaleToZero }) {
		t.Errorf("kubectl scale rs/web --replicas=0 gets %+v, want scale-to-zero", findings)
	}
	if conditions := MatchConditionTemplates(EntryValidate); !slices.ContainsFunc(conditions, func(c MatchCondition) bool {
		return containsAll(c.Expression, "'replicasets'", `"scale"`, "'rollouts'")
	}) {
		t.Error("the validating matchConditions do not skip a quiet replicasets/scale or rollouts/scale")
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestReadsAreTheParentsAndListsTheWebhookMakes(t *testing.T) {
	grants := map[string]bool{}
	for _, r := range Reads() {
		for _, v := range r.Verbs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					grants[v+" "+g+" "+res] = true
				}
			}
		}
	}
	// The parent of every subresource an entry receives (webhook's parent read).
	for _, e := range Entries() {
		for res := range targetsOf(e) {
			if res.subResource != "" && !grants["get "+res.group+" "+res.resource] {
				t.Errorf("%s receives %s/%s but Reads has no get on %s", e.Name, res.resource, res.subResource, res.resource)
			}
		}
	}
	// What a namespace DELETE is judged by, and the rollout histories.
	for _, name := range policies.NamespaceListKinds() {
		if k := kindOf(name); !grants["list "+k.GVK.Group+" "+k.Resource] {
			t.Errorf("Reads has no list on %s, which a namespace DELETE lists", k.Resource)
		}
	}
	for _, want := range []string{"list apps replicasets", "list apps controllerrevisions"} {
		if !grants[want] {
			t.Errorf("Reads lacks %q (rollout history)", want)
		}
	}
	for g := range grants {
		if verb, _, _ := strings.Cut(g, " "); verb != "get" && verb != "list" {
			t.Errorf("Reads grants %s: gracekeeper only gets and lists", g)
		}
	}
}
