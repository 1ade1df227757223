package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// rule is one registered check. Each lives in its own rule_*.go file.
type rule struct {
	id RuleID
	// pod rules judge a pod spec and read exemptions from the pods' own
	// annotations (see podRuleOff); the others from the reviewed object's.
	pod   bool
	check func(ev *evaluation) []Finding
}

// rules is the registry, in the order findings are reported.
var rules = []rule{
	{RuleModeLabel, false, checkModeLabel},
	{RuleForceDelete, false, checkForceDelete},
	{RulePodDelete, false, checkPodDelete},
	{RuleWorkloadDelete, false, checkWorkloadDelete},
	{RuleScaleToZero, false, checkScaleToZero},
	{RuleScaleDown, false, checkScaleDown},
	{RuleRecreateStrategy, false, checkRecreateStrategy},
	{RuleUpdateStrategy, false, checkUpdateStrategy},
	{RuleRollingUpdate, false, checkRollingUpdate},
	{RuleRevisionHistory, false, checkRevisionHistory},
	{RuleChangeCause, false, checkChangeCause},
	{RulePreStopHook, true, checkPreStopHook},
	{RuleTerminationGracePeriod, true, checkTerminationGracePeriod},
	{RuleReadinessProbe, true, checkReadinessProbe},
}

// nativeSleepSince is the first API server minor at which every kubelet it
// supports (up to three minors older) has the preStop sleep action on by default.
var nativeSleepSince = version.MajorMinor(1, 33)

// Engine evaluates reviews against one configuration.
type Engine struct {
	cfg          *v1alpha1.Configuration
	nativeSleep  bool
	exemptByUser map[RuleID]userSet
}

type userSet struct {
	users, groups map[string]bool
}

// New builds an engine. serverVersion is the API server's version as discovery
// reports it (e.g. "v1.37.2"); the config's serverVersion overrides it, and an
// unknown version selects the exec fallback.
func New(cfg *v1alpha1.Configuration, serverVersion string) (*Engine, error) {
	if err := validateRegistry(); err != nil {
		return nil, err
	}
	if cfg.ServerVersion != "" {
		serverVersion = cfg.ServerVersion
	}
	e := &Engine{cfg: cfg, exemptByUser: map[RuleID]userSet{}}
	switch cfg.PreStop.Action {
	case v1alpha1.PreStopSleep:
		e.nativeSleep = true
	case v1alpha1.PreStopAuto:
		if v, err := version.ParseGeneric(serverVersion); err == nil {
			e.nativeSleep = v.AtLeast(nativeSleepSince)
		}
	}
	for _, ex := range cfg.Exemptions {
		for _, id := range ex.Rules {
			ids := []RuleID{RuleID(id)}
			if id == v1alpha1.AllRules {
				ids = ruleIDs()
			}
			for _, id := range ids {
				set := e.exemptByUser[id]
				if set.users == nil {
					set = userSet{users: map[string]bool{}, groups: map[string]bool{}}
				}
				for _, u := range ex.Users {
					set.users[u] = true
				}
				for _, sa := range ex.ServiceAccounts {
					ns, name, _ := strings.Cut(sa, "/")
					set.users[serviceAccountPrefix+ns+":"+name] = true
				}
				for _, g := range ex.Groups {
					set.groups[g] = true
				}
				e.exemptByUser[id] = set
			}
		}
	}
	return e, nil
}

// NativeSleep reports whether injected hooks use the preStop sleep action
// rather than exec ["sleep", N].
func (e *Engine) NativeSleep() bool { return e.nativeSleep }

// Config returns the engine's configuration.
func (e *Engine) Config() *v1alpha1.Configuration { return e.cfg }

// validateRegistry keeps the registry and the configuration's list of ids in step.
func validateRegistry() error {
	ids := ruleIDs()
	seen := map[RuleID]bool{}
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("rule %s registered twice", id)
		}
		seen[id] = true
		if !slices.Contains(v1alpha1.RuleIDs, string(id)) {
			return fmt.Errorf("rule %s is missing from v1alpha1.RuleIDs", id)
		}
	}
	if len(ids) != len(v1alpha1.RuleIDs) {
		return fmt.Errorf("v1alpha1.RuleIDs lists %d rules, the registry %d", len(v1alpha1.RuleIDs), len(ids))
	}
	return nil
}

func ruleIDs() []RuleID {
	ids := make([]RuleID, len(rules))
	for i, r := range rules {
		ids[i] = r.id
	}
	return ids
}

// evaluation is the state of one Evaluate call, shared by the rules.
type evaluation struct {
	*Engine
	review *Review
	// userExempt holds the rules the configuration switches off for this requester,
	// objectExempt those the reviewed object's annotation switches off.
	userExempt, objectExempt map[RuleID]bool
	// pods is the pod spec the pod rules judge, nil when the review has none.
	pods *podTarget
}

// Evaluate runs every rule that applies to the review and returns its findings,
// with exemptions applied. Mode is applied afterwards, by Decide. It judges
// every container; the webhook calls EvaluateContext, which is bounded.
func (e *Engine) Evaluate(r *Review) []Finding {
	findings, _ := e.evaluate(context.Background(), r)
	return findings
}

// evaluate is Evaluate, stopping between rules with ctx's error once ctx ends.
func (e *Engine) evaluate(ctx context.Context, r *Review) ([]Finding, error) {
	system := IsSystemActor(r.User)
	if system && r.Operation == Update {
		// A controller's own write of a workload (the deployment controller
		// writes each Deployment on every rollout) is never judged: the
		// mutating configuration does not send it (see MatchConditions).
		return nil, nil
	}
	ev := &evaluation{Engine: e, review: r, userExempt: map[RuleID]bool{}, objectExempt: map[RuleID]bool{}}
	ev.pods = ev.findPodTarget()
	for id, set := range e.exemptByUser {
		if set.matches(r.User) {
			ev.userExempt[id] = true
		}
	}
	if nodeTerminators[r.User.Username] {
		for _, id := range nodeTerminatorRules {
			ev.userExempt[id] = true
		}
	}
	var findings []Finding
	keep := func(fs []Finding) {
		for _, f := range fs {
			// System actors are never denied or warned, not even about an
			// exemption annotation: they only get their pods mutated.
			if system && !f.IsMutation() {
				continue
			}
			findings = append(findings, f)
		}
	}
	keep(ev.objectExemptions())
	// A force-replace is not what a CD tool is exempted for: see forceReplaced.
	if forceReplaced(r) != nil {
		delete(ev.userExempt, RuleWorkloadDelete)
	}
	for _, rl := range rules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// The mode label's own check is never switched off by the annotation:
		// whoever can write a Namespace's label can write its annotation,
		// and a typo there switches enforcement off without a word.
		if e.cfg.RuleOff(string(rl.id)) || ev.userExempt[rl.id] || (!rl.pod && rl.id != RuleModeLabel && ev.objectExempt[rl.id]) {
			continue
		}
		keep(rl.check(ev))
	}
	return findings, nil
}

func (s userSet) matches(u UserInfo) bool {
	if s.users[u.Username] {
		return true
	}
	for _, g := range u.Groups {
		if s.groups[g] {
			return true
		}
	}
	return false
}

// systemActors are the identities whose requests keep the cluster running:
// the kubelet's final pod deletes, garbage collection, namespace deletion,
// rollouts. An explicit list: all of kube-system would also exempt add-ons.
var systemActors = map[string]bool{
	"system:kube-controller-manager": true,
	// Preemption deletes lower-priority pods directly.
	"system:kube-scheduler": true,
}

// systemControllers are kube-controller-manager's service accounts in
// kube-system whose bootstrap roles may delete pods, workloads or namespaces,
// or write a /scale (deploy's TestEveryBootstrapControllerThatDeletesOrScalesIsASystemActor
// derives them from the Kubernetes release), and the disruption controller.
var systemControllers = []string{
	"replicaset-controller", "replication-controller", "deployment-controller", "statefulset-controller",
	"daemon-set-controller", "generic-garbage-collector", "namespace-controller",
	"job-controller", "cronjob-controller", "node-controller", "disruption-controller",
	// DRA device-taint evictions (KEP-5055, on by default since 1.36) and
	// the deletes of orphaned and terminated pods.
	"device-taint-eviction-controller", "pod-garbage-collector",
	// Autoscaling writes /scale; scaling to zero or by half is its job.
	"horizontal-pod-autoscaler",
	// Recycler pods of the PersistentVolume binder, and storage migrations,
	// which rewrite every stored object unchanged.
	"persistent-volume-binder", "storage-version-migrator-controller",
}

func init() {
	for _, name := range systemControllers {
		systemActors["system:serviceaccount:kube-system:"+name] = true
	}
}

// nodes is the kubelets' group: they make the final pod deletes.
const nodes = "system:nodes"

// IsSystemActor reports whether the user is a node or a core controller.
func IsSystemActor(u UserInfo) bool {
	return systemActors[u.Username] || slices.Contains(u.Groups, nodes)
}

// SystemActors lists, sorted, the usernames and groups IsSystemActor matches.
// The webhook configurations' matchConditions are written from it (see
// MatchConditionTemplates): the validating entries never send these
// requesters, and the mutating ones only not their UPDATEs, so the pods they
// create are still mutated.
func SystemActors() (users, groups []string) {
	for u := range systemActors {
		users = append(users, u)
	}
	slices.Sort(users)
	return users, []string{nodes}
}
