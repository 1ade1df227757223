package admission

import (
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/policies"
)

// This file is the one table of gracekeeper's webhook entries: which
// requests each entry receives, in which modes and at which paths. The
// server's paths, the decoder's targets (targets.go), the chart's rules:
// (package deploy), the matchConditions' resource lists (matchconditions.go)
// and the API reads the chart grants (Reads) are derived from it. What a kind
// is (its group, version, resource, whether it has /scale or /eviction) is
// policies' kinds table; which entry receives which requests about it is
// here.

// EntryName names an entry of gracekeeper's webhook configurations.
type EntryName string

const (
	// EntryMutate is the mutating entry of each mode (/mutate/<mode>).
	EntryMutate EntryName = "mutate"
	// EntryValidate is the validating entry of each mode (/validate/<mode>).
	EntryValidate EntryName = "validate"
	// EntryNamespaces is the validating entry for the mode label (/validate/namespaces).
	EntryNamespaces EntryName = "namespaces"
)

// Entry is one entry of the webhook configurations. An entry named after its
// webhook's verb (mutate, validate) is chosen by the namespace's mode label:
// the chart renders it once per mode, named <mode>.<verb>.gracekeeper.io and
// served at /<verb>/<mode>. Any other entry is rendered once, named
// <name>.<verb>.gracekeeper.io and served at /<verb>/<name>, in its one mode.
type Entry struct {
	Name EntryName
	// Webhook says whether the entry is in the mutating or the validating
	// configuration.
	Webhook Webhook
	// Modes are the modes it judges in, each at its own path.
	Modes []policies.Mode
	// Receive lists the requests the entry receives, in the order the
	// chart renders their rules.
	Receive []Receive
}

// Receive is a set of requests an entry receives about some kinds.
type Receive struct {
	// Kinds name kinds of policies.Kinds() (Pod, Deployment...).
	Kinds []string
	// Operations are the operations on the kinds' own resources; none for
	// an entry that receives only their subresources.
	Operations []admissionregistrationv1.OperationType
	// Scale: UPDATE of the /scale of those kinds that have one
	// (policies.Kind.Scale): kubectl scale, autoscalers.
	Scale bool
	// Evict: CREATE of the /eviction of those kinds that have one
	// (policies.Kind.Evict): kubectl drain, the PDB-respecting delete.
	Evict bool
}

var (
	create          = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	createUpdate    = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	del             = []admissionregistrationv1.OperationType{admissionregistrationv1.Delete}
	writesAndDelete = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	bothModes       = []policies.Mode{policies.ModeEnforce, policies.ModeAudit}
)

// entries is the table, in the order the chart renders the entries.
var entries = []Entry{
	{
		Name: EntryMutate, Webhook: Mutating, Modes: bothModes,
		Receive: []Receive{
			// The pods get their hooks and grace period where they are
			// created, whoever creates them.
			{Kinds: []string{"Pod"}, Operations: create},
			// The workloads' own patches (strategy, revision history,
			// change-cause); a ReplicaSet's template is its owner's.
			{Kinds: []string{"Deployment", "StatefulSet", "DaemonSet", policies.RolloutGVK.Kind}, Operations: createUpdate},
		},
	},
	{
		Name: EntryValidate, Webhook: Validating, Modes: bothModes,
		Receive: []Receive{
			// ReplicaSets too: bare, or orphaned by delete --cascade=orphan.
			// Argo Rollouts' Rollout is guarded like a Deployment; a rule
			// for a resource the cluster does not serve matches nothing.
			{Kinds: []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", policies.RolloutGVK.Kind},
				Operations: writesAndDelete, Scale: true},
			// kubectl drain --grace-period evicts with a grace override.
			{Kinds: []string{"Pod"}, Operations: del, Evict: true},
			// Deleting a namespace deletes every workload in it. For a
			// Namespace request the namespaceSelector reads the namespace's
			// own labels.
			{Kinds: []string{"Namespace"}, Operations: del},
		},
	},
	{
		// Always enforce: a typo in the mode label must be denied whatever
		// mode the namespace meant to choose.
		Name: EntryNamespaces, Webhook: Validating, Modes: []policies.Mode{policies.ModeEnforce},
		Receive: []Receive{{Kinds: []string{"Namespace"}, Operations: createUpdate}},
	},
}

// Entries returns the table of webhook entries, in the order the chart
// renders them.
func Entries() []Entry { return slices.Clone(entries) }

// EntryOf returns the table's entry of a name.
func EntryOf(name EntryName) (Entry, bool) {
	i := slices.IndexFunc(entries, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		return Entry{}, false
	}
	return entries[i], true
}

// verb is the first segment of the entry's paths: mutate or validate.
func (e Entry) verb() string {
	if e.Webhook == Mutating {
		return "mutate"
	}
	return "validate"
}

// byMode reports whether the namespace's mode label chooses the entry,
// which is then rendered and served once per mode.
func (e Entry) byMode() bool { return string(e.Name) == e.verb() }

// qualifier is what tells the entry's webhooks apart in a mode.
func (e Entry) qualifier(mode policies.Mode) string {
	if e.byMode() {
		return string(mode)
	}
	return string(e.Name)
}

// Path is the URL path the API server calls the entry at in a mode:
// /mutate/enforce, /validate/audit, /validate/namespaces.
func (e Entry) Path(mode policies.Mode) string { return "/" + e.verb() + "/" + e.qualifier(mode) }

// WebhookName is the entry's name in its configuration in a mode:
// enforce.mutate.gracekeeper.io, namespaces.validate.gracekeeper.io.
func (e Entry) WebhookName(mode policies.Mode) string {
	return e.qualifier(mode) + "." + e.verb() + ".gracekeeper.io"
}

// Path is one URL path gracekeeper serves: the entry the API server calls
// there and the mode the entry judges in.
type Path struct {
	Path  string
	Entry Entry
	Mode  policies.Mode
}

// Paths lists every path of every entry, in the order the chart renders
// the webhooks.
func Paths() []Path {
	var paths []Path
	for _, e := range entries {
		for _, m := range e.Modes {
			paths = append(paths, Path{e.Path(m), e, m})
		}
	}
	return paths
}

// kindOf finds a kind of the table by name; the table names only kinds that
// policies reads (TestEntriesNameKnownKinds), so a miss is a programming error.
func kindOf(name string) policies.Kind {
	for _, k := range policies.Kinds() {
		if k.GVK.Kind == name {
			return k
		}
	}
	panic(fmt.Sprintf("admission: the entry table names %s, a kind policies does not read", name))
}

// scopeOf is the scope the API server serves a kind in: Namespace is the one
// cluster-scoped kind gracekeeper judges.
func scopeOf(k policies.Kind) admissionregistrationv1.ScopeType {
	if k.GVK.Group == "" && k.GVK.Kind == "Namespace" {
		return admissionregistrationv1.ClusterScope
	}
	return admissionregistrationv1.NamespacedScope
}

// Subresources a Receive may name, and what each carries.
const (
	subScale    = "scale"
	subEviction = "eviction"
)

// requests lists a Receive's requests as resource and subresource with the
// operations on it, per kind, in the table's order.
func (rc Receive) requests() []request {
	var out []request
	for _, name := range rc.Kinds {
		k := kindOf(name)
		if len(rc.Operations) > 0 {
			out = append(out, request{k, "", rc.Operations})
		}
		if rc.Scale && k.Scale {
			out = append(out, request{k, subScale, []admissionregistrationv1.OperationType{admissionregistrationv1.Update}})
		}
		if rc.Evict && k.Evict {
			out = append(out, request{k, subEviction, create})
		}
	}
	return out
}

// request is the requests about one resource or subresource of a kind.
type request struct {
	kind        policies.Kind
	subResource string
	operations  []admissionregistrationv1.OperationType
}

// resource is the request's resource as rules name it: deployments/scale.
func (r request) resource() string {
	if r.subResource == "" {
		return r.kind.Resource
	}
	return r.kind.Resource + "/" + r.subResource
}

// requests lists every request the entry receives.
func (e Entry) requests() []request {
	var out []request
	for _, rc := range e.Receive {
		out = append(out, rc.requests()...)
	}
	return out
}

// Rules are the entry's admissionregistration rules: per Receive and API
// group version (in the order of the kinds), one rule for the kinds'
// resources, then one for their /scale and one for their /eviction. The kinds
// of a Receive share a scope (TestEntriesNameKnownKindsAndLiveFlags).
func (e Entry) Rules() []admissionregistrationv1.RuleWithOperations {
	var rules []admissionregistrationv1.RuleWithOperations
	for _, rc := range e.Receive {
		requests := rc.requests()
		var versions []schema.GroupVersion
		for _, r := range requests {
			if gv := r.kind.GVK.GroupVersion(); !slices.Contains(versions, gv) {
				versions = append(versions, gv)
			}
		}
		for _, gv := range versions {
			for _, sub := range []string{"", subScale, subEviction} {
				var rule *admissionregistrationv1.RuleWithOperations
				for _, r := range requests {
					if r.kind.GVK.GroupVersion() != gv || r.subResource != sub {
						continue
					}
					if rule == nil {
						scope := scopeOf(r.kind)
						rule = &admissionregistrationv1.RuleWithOperations{Operations: slices.Clone(r.operations),
							Rule: admissionregistrationv1.Rule{APIGroups: []string{gv.Group}, APIVersions: []string{gv.Version}, Scope: &scope}}
					}
					rule.Resources = append(rule.Resources, r.resource())
				}
				if rule != nil {
					rules = append(rules, *rule)
				}
			}
		}
	}
	return rules
}

// Receives reports whether the entry receives a request: an operation on a
// resource or subresource ("" for the resource itself) of an API group.
func (e Entry) Receives(group, resource, subResource string, op admissionregistrationv1.OperationType) bool {
	for _, r := range e.requests() {
		if r.kind.GVK.Group == group && r.kind.Resource == resource && r.subResource == subResource &&
			slices.Contains(r.operations, op) {
			return true
		}
	}
	return false
}

// Reads are the API reads gracekeeper makes while it answers, as the RBAC
// rules the chart must grant: get on the object behind each subresource an
// entry receives (the pod of an eviction with a grace override, the workload
// of a /scale a guard denies or warns about); list on the kinds a namespace
// holds (policies.NamespaceListKinds) when an entry receives a namespace
// DELETE; and list on the rollout history (policies.Kind.History) of each
// kind whose UPDATE an entry receives. Rules come one per API group and verb,
// the get rules first; resources in the table's order, each once.
func Reads() []rbacv1.PolicyRule {
	type key struct{ group, verb string }
	var keys []key
	grouped := map[key][]string{}
	add := func(group, verb, resource string) {
		k := key{group, verb}
		if _, ok := grouped[k]; !ok {
			keys = append(keys, k)
		}
		if !slices.Contains(grouped[k], resource) {
			grouped[k] = append(grouped[k], resource)
		}
	}
	// The namespace's lists first, then the histories.
	var namespaceLists, historyLists [][2]string
	for _, e := range entries {
		for _, r := range e.requests() {
			switch {
			case r.subResource != "":
				add(r.kind.GVK.Group, "get", r.kind.Resource)
			case r.kind.GVK.Group == "" && r.kind.GVK.Kind == "Namespace" &&
				slices.Contains(r.operations, admissionregistrationv1.Delete):
				for _, name := range policies.NamespaceListKinds() {
					k := kindOf(name)
					namespaceLists = append(namespaceLists, [2]string{k.GVK.Group, k.Resource})
				}
			}
			if r.subResource == "" && r.kind.History != "" && slices.Contains(r.operations, admissionregistrationv1.Update) {
				// The history is in the kind's own group (ReplicaSets,
				// ControllerRevisions of apps).
				historyLists = append(historyLists, [2]string{r.kind.GVK.Group, r.kind.History})
			}
		}
	}
	for _, l := range append(namespaceLists, historyLists...) {
		add(l[0], "list", l[1])
	}
	rules := make([]rbacv1.PolicyRule, len(keys))
	for i, k := range keys {
		rules[i] = rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: grouped[k], Verbs: []string{k.verb}}
	}
	return rules
}
