package admission

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// This file is the one place where the webhook configurations' matchConditions
// are written. The API server evaluates them before it calls gracekeeper, and
// calls only when every one is true, so each expression skips requests about
// which the engine can say nothing: no patch, denial or warning. They are
// written from the rules below; the chart carries them through a generated
// template (see package deploy), and a differential test
// (matchconditions_test.go) evaluates them with the API server's CEL
// libraries against gracekeeper's webhook server.
//
// The safe default is to call: an expression skips only a request it can prove
// quiet, and any field it does not understand (an unknown hook form, a native
// sidecar, a percent it cannot parse) makes it call. A CEL error would let the
// API server skip the webhook under failurePolicy Ignore, so every field is read
// through has() or an optional (.?), and no arithmetic can overflow.

// MatchCondition is one entry of a webhook's matchConditions, as in
// admissionregistration.k8s.io/v1.
type MatchCondition struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// MatchConditionParam is a value the expressions read from the configuration
// or from the chart's requester exclusions. In MatchConditionTemplates it
// stands as its Token; MatchConditions replaces each token with the value as
// JSON, which is also a CEL literal (a number, a string or a list of strings).
type MatchConditionParam struct {
	Token string
	// ConfigPath is the field's path in the configuration file, for values
	// read from it; nil for the requester lists.
	ConfigPath []string
	// ChartValue names the chart value whose entries are appended to the
	// system actors, for the requester lists; "" for configuration values.
	ChartValue string
	value      func(c *v1alpha1.Configuration, exemptUsers, exemptGroups []string) any
}

// Value is the parameter's value under a configuration and the chart's
// exemptUsers and exemptGroups.
func (p MatchConditionParam) Value(c *v1alpha1.Configuration, exemptUsers, exemptGroups []string) any {
	return p.value(c, exemptUsers, exemptGroups)
}

// The parameters. Tokens are words between @, which CEL never uses.
var (
	paramShutdown = MatchConditionParam{Token: "@shutdownSeconds@", ConfigPath: []string{"shutdownSeconds"},
		value: func(c *v1alpha1.Configuration, _, _ []string) any { return *c.ShutdownSeconds }}
	paramSkipOwnerKinds = MatchConditionParam{Token: "@skipOwnerKinds@", ConfigPath: []string{"preStop", "skipOwnerKinds"},
		value: func(c *v1alpha1.Configuration, _, _ []string) any { return nonNil(c.PreStop.SkipOwnerKinds) }}
	paramRevisionMinimum = MatchConditionParam{Token: "@revisionHistoryMinimum@", ConfigPath: []string{"revisionHistory", "minimum"},
		value: func(c *v1alpha1.Configuration, _, _ []string) any { return *c.RevisionHistory.Minimum }}
	paramChangeCause = MatchConditionParam{Token: "@changeCause@", ConfigPath: []string{"changeCause"},
		value: func(c *v1alpha1.Configuration, _, _ []string) any { return string(c.ChangeCause) }}
	paramSystemUsers = MatchConditionParam{Token: "@systemUsers@",
		value: func(*v1alpha1.Configuration, []string, []string) any {
			users, _ := policies.SystemActors()
			return users
		}}
	paramSystemGroups = MatchConditionParam{Token: "@systemGroups@",
		value: func(*v1alpha1.Configuration, []string, []string) any {
			_, groups := policies.SystemActors()
			return groups
		}}
	paramExemptUsers = MatchConditionParam{Token: "@exemptUsers@", ChartValue: "exemptUsers",
		value: func(_ *v1alpha1.Configuration, users, _ []string) any {
			system, _ := policies.SystemActors()
			return uniq(append(system, users...))
		}}
	paramExemptGroups = MatchConditionParam{Token: "@exemptGroups@", ChartValue: "exemptGroups",
		value: func(_ *v1alpha1.Configuration, _, groups []string) any {
			_, system := policies.SystemActors()
			return uniq(append(system, groups...))
		}}
)

// MatchConditionParams lists every parameter the templates use.
var MatchConditionParams = []MatchConditionParam{
	paramShutdown, paramSkipOwnerKinds, paramRevisionMinimum, paramChangeCause,
	paramSystemUsers, paramSystemGroups, paramExemptUsers, paramExemptGroups,
}

// MatchConditionTemplates returns an entry's matchConditions with parameter
// tokens (MatchConditionParams) in place of configuration values; nil for a
// name the entry table lacks.
func MatchConditionTemplates(entry EntryName) []MatchCondition {
	switch entry {
	case EntryMutate:
		return []MatchCondition{
			{Name: "exclude-system-workload-updates", Expression: systemWorkloadUpdates},
			{Name: "exclude-graceful-objects", Expression: "!(" + orAll(graceful.pod, graceful.workloadSpec) + ")"},
		}
	case EntryValidate:
		return append(exemptRequesters(),
			// Evictions without a grace override are the PodDisruptionBudgets'
			// business: they never reach gracekeeper, which reads the pod of the rest.
			MatchCondition{Name: "only-evictions-with-a-grace-override",
				Expression: `!has(request.subResource) || request.subResource != "` + subEviction + `" || (has(object.deleteOptions) && has(object.deleteOptions.gracePeriodSeconds))`},
			MatchCondition{Name: "exclude-graceful-objects", Expression: "!(" +
				orAll(graceful.workloadWrite, graceful.scale, graceful.workloadDelete, graceful.podDelete) + ")"})
	case EntryNamespaces:
		return append(exemptRequesters(),
			MatchCondition{Name: "exclude-valid-mode-labels", Expression: "!(" + graceful.namespace + ")"})
	}
	return nil
}

// MatchConditions returns an entry's matchConditions under a configuration,
// with the chart's exemptUsers and exemptGroups (break-glass accounts the
// validating entries never send); nil for a name the entry table lacks. c
// must be defaulted (v1alpha1.Parse gives one): each parameter's value is
// read from it. The error says which parameter's value did not encode as
// JSON.
func MatchConditions(entry EntryName, c *v1alpha1.Configuration, exemptUsers, exemptGroups []string) ([]MatchCondition, error) {
	conditions := MatchConditionTemplates(entry)
	for i := range conditions {
		for _, p := range MatchConditionParams {
			literal, err := json.Marshal(p.Value(c, exemptUsers, exemptGroups))
			if err != nil {
				return nil, fmt.Errorf("matchCondition parameter %s: %w", p.Token, err)
			}
			conditions[i].Expression = strings.ReplaceAll(conditions[i].Expression, p.Token, string(literal))
		}
	}
	return conditions, nil
}

// The requesters the validating entries never send: the system actors, which
// the engine never denies or warns, and the chart's break-glass accounts.
func exemptRequesters() []MatchCondition {
	return []MatchCondition{
		{Name: "exclude-system-and-exempt-users",
			Expression: "!has(request.userInfo.username) || !(request.userInfo.username in " + paramExemptUsers.Token + ")"},
		{Name: "exclude-system-and-exempt-groups",
			Expression: "!has(request.userInfo.groups) || !request.userInfo.groups.exists(g, g in " + paramExemptGroups.Token + ")"},
	}
}

// systemWorkloadUpdates keeps the controllers' own writes of workloads (the
// deployment controller writes each Deployment on every rollout) away from
// the mutating webhook; the engine says nothing about a system actor's UPDATE.
// Pod CREATEs by controllers still reach it: those pods need the hooks.
var systemWorkloadUpdates = "request.operation != 'UPDATE' || !(" +
	"request.userInfo.?username.orValue('') in " + paramSystemUsers.Token +
	" || request.userInfo.?groups.orValue([]).exists(g, g in " + paramSystemGroups.Token + "))"

// graceful holds, per kind of request, an expression that is true when the
// engine has nothing to say about it on that entry.
var graceful = func() (g struct {
	pod, workloadSpec, workloadWrite, scale, workloadDelete, podDelete, namespace string
}) {
	object, old := "object.?spec", "oldObject.?spec"
	g.pod = andAll(received(EntryMutate, []string{"Pod"}, "", admissionregistrationv1.Create),
		notExempt("object"),
		podQuiet("object.?metadata", object, controllerKind("object")))
	// The mutating entry reports only the workload's own patches; findings on
	// its pod template go to the validating entry.
	g.workloadSpec = andAll(received(EntryMutate, strategyKinds, "", admissionregistrationv1.Create, admissionregistrationv1.Update), workloadSpecQuiet(object),
		changeCauseQuiet(object, old))
	g.workloadWrite = andAll(received(EntryValidate, strategyKinds, "", admissionregistrationv1.Create, admissionregistrationv1.Update),
		notExempt("object"),
		workloadSpecQuiet(object),
		"(request.resource.resource == 'deployments' || "+object+".?updateStrategy.?type.orValue('') != 'OnDelete')",
		"(request.operation != 'UPDATE' || (request.resource.resource == 'daemonsets' ? "+nodesSame(object, old)+" : "+
			replicasQuiet(object+".?replicas.orValue(1)", old+".?replicas.orValue(1)")+"))",
		podQuiet(object+".?template.?metadata", object+".?template.?spec", "request.kind.kind"))
	// Every /scale the entry receives: the rules read only the Scale's
	// replicas (and, for a ReplicaSet's, the parent, only to stay quiet).
	// A Scale's spec.replicas is omitted when 0.
	g.scale = andAll(received(EntryValidate, nil, subScale, admissionregistrationv1.Update),
		notExempt("object"),
		replicasQuiet(object+".?replicas.orValue(0)", old+".?replicas.orValue(0)"))
	g.workloadDelete = andAll(received(EntryValidate, strategyKinds, "", admissionregistrationv1.Delete),
		notExempt("oldObject"),
		"(request.resource.resource == 'daemonsets' ? oldObject.?status.?desiredNumberScheduled.orValue(0) <= 0 : "+
			old+".?replicas.orValue(1) <= 0)")
	// Pods already terminating or finished: neither a restart nor a kill.
	g.podDelete = andAll(received(EntryValidate, []string{"Pod"}, "", admissionregistrationv1.Delete),
		notExempt("oldObject"),
		"(oldObject.?metadata.?deletionTimestamp.orValue(null) != null || oldObject.?status.?phase.orValue('') in ['Succeeded', 'Failed'])")
	labels := "object.?metadata.?labels.orValue({})"
	g.namespace = andAll(received(EntryNamespaces, []string{"Namespace"}, "", admissionregistrationv1.Create, admissionregistrationv1.Update),
		notExempt("object"),
		fmt.Sprintf("(!(%q in %s) || %s[%q] in %s)", policies.ModeLabel, labels, labels, policies.ModeLabel,
			celList([]string{string(policies.ModeEnforce), string(policies.ModeAudit), string(policies.ModeOff)})))
	return g
}()

// changeCauseQuiet is true when change-cause has nothing to record: it is
// off, the kind has no rollout history, or an UPDATE leaves the pod template
// as it was (scale, labels, status). A CREATE and a template change call.
func changeCauseQuiet(spec, oldSpec string) string {
	var resources []string
	for _, k := range policies.Kinds() {
		if k.History != "" {
			resources = append(resources, k.Resource)
		}
	}
	return fmt.Sprintf("(%s != %q || !(request.resource.resource in %s) || (request.operation == 'UPDATE' && %s.?template.orValue({}) == %s.?template.orValue({})))",
		paramChangeCause.Token, v1alpha1.ChangeCauseRecord, celList(resources), spec, oldSpec)
}

// nodesSame is true when a DaemonSet UPDATE keeps its template's
// nodeSelector and node affinity, which decide the nodes it runs on (see
// daemonSetNarrowed).
func nodesSame(spec, old string) string {
	return fmt.Sprintf("%s.?template.?spec.?nodeSelector.orValue({}) == %s.?template.?spec.?nodeSelector.orValue({}) && "+
		"%s.?template.?spec.?affinity.?nodeAffinity.orValue({}) == %s.?template.?spec.?affinity.?nodeAffinity.orValue({})", spec, old, spec, old)
}

// replicasQuiet is true when a change of spec.replicas from before to now
// is neither scale-to-zero's (a running workload to 0) nor scale-down's (one
// write that stops more than half of the pods).
func replicasQuiet(now, before string) string {
	return fmt.Sprintf("(%s == 0 ? %s == 0 : 2 * %s >= %s)", now, before, now, before)
}

// strategyKinds are the kinds whose objects carry a pod template and a
// rollout strategy that workloadSpecQuiet reads; the other kinds' writes
// always call.
var strategyKinds = []string{"Deployment", "StatefulSet", "DaemonSet"}

// received matches the requests an entry receives (see entries) about some
// kinds (nil: all of them) with a subresource and operations: the resource
// lists come from the table, one per API group.
func received(entry EntryName, kinds []string, subResource string, ops ...admissionregistrationv1.OperationType) string {
	e, ok := EntryOf(entry)
	if !ok {
		panic(fmt.Sprintf("admission: no webhook entry %s", entry))
	}
	var groups []string
	resources := map[string][]string{}
	for _, r := range e.requests() {
		if r.subResource != subResource || (kinds != nil && !slices.Contains(kinds, r.kind.GVK.Kind)) ||
			slices.ContainsFunc(ops, func(op admissionregistrationv1.OperationType) bool { return !slices.Contains(r.operations, op) }) {
			continue
		}
		g := r.kind.GVK.Group
		if _, ok := resources[g]; !ok {
			groups = append(groups, g)
		}
		resources[g] = append(resources[g], r.kind.Resource)
	}
	if len(groups) == 0 {
		panic(fmt.Sprintf("admission: entry %s receives no %v %q of %v", entry, ops, subResource, kinds))
	}
	var matches []string
	for _, g := range groups {
		matches = append(matches, andAll(fmt.Sprintf("request.resource.?group.orValue('') == %q", g),
			"request.resource.resource in "+celList(resources[g])))
	}
	match := matches[0]
	if len(matches) > 1 {
		match = "(" + orAll(matches...) + ")"
	}
	operations := make([]string, len(ops))
	for i, op := range ops {
		operations[i] = string(op)
	}
	return andAll(match,
		fmt.Sprintf("request.?subResource.orValue('') == %q", subResource),
		"request.operation in "+celList(operations))
}

// notExempt is true when the object has no exemption annotation, which the
// engine reads and may warn about (no reason, an unknown rule).
func notExempt(object string) string {
	return fmt.Sprintf("!(%q in %s.?metadata.?annotations.orValue({}))", policies.ExemptAnnotation, object)
}

// controllerKind is the kind of the object's controller, "" for none.
func controllerKind(object string) string {
	refs := object + ".?metadata.?ownerReferences.orValue([])"
	isController := "r.?controller.orValue(false)"
	return fmt.Sprintf("(%s.exists(r, %s) ? %s.filter(r, %s)[0].?kind.orValue('') : '')", refs, isController, refs, isController)
}

// workloadSpecQuiet is true when the workload-level rules have nothing to
// say: strategy (recreate-strategy, rolling-update) and revision-history.
// Update strategies the engine does not patch yet are held to a strict
// reading, so a rule that starts patching them cannot be skipped unnoticed.
func workloadSpecQuiet(spec string) string {
	replicas := spec + ".?replicas.orValue(1)"
	rolling := spec + ".?strategy.?rollingUpdate"
	// The controller's fenceposts (see fenceposts): when maxSurge resolves to
	// 0, maxUnavailable is at least 1, which is every pod of one replica.
	fenceposts := fmt.Sprintf("(%s || %s >= 2)", surgeNonZero(rolling+".?maxSurge"), replicas)
	deployment := fmt.Sprintf("(%s.?strategy.?type.orValue('') in ['', 'RollingUpdate'] ? (%s && %s) : %s.?strategy.?type.orValue('') != 'Recreate')",
		spec, replicasSafe(rolling+".?maxUnavailable", replicas), fenceposts, spec)
	statefulSet := replicasSafe(spec+".?updateStrategy.?rollingUpdate.?maxUnavailable", replicas)
	// A DaemonSet's count is its nodes, unknown here: only maxUnavailable 1 is read as safe.
	dsUnavailable := spec + ".?updateStrategy.?rollingUpdate.?maxUnavailable.orValue(1)"
	daemonSet := fmt.Sprintf("(type(%s) == int && %s <= 1)", dsUnavailable, dsUnavailable)
	// Pods that cannot surge get their own rolling-update findings (see surgeOf).
	surges := "!(" + cannotSurge(spec+".?template.?spec") + ")"
	return andAll(
		sized(spec+".?template.?spec"),
		fmt.Sprintf("%s.?revisionHistoryLimit.orValue(%s) >= %s", spec, paramRevisionMinimum.Token, paramRevisionMinimum.Token),
		"(request.resource.resource != 'deployments' || ("+deployment+" && "+surges+"))",
		"(request.resource.resource != 'statefulsets' || "+statefulSet+")",
		"(request.resource.resource != 'daemonsets' || ("+daemonSet+" && "+surges+"))")
}

// defaultRollingUpdateMax is what the API server defaults an absent
// maxSurge or maxUnavailable to (apps/v1 SetDefaults_Deployment), as the
// rolling-update rule reads them.
const defaultRollingUpdateMax = "25%"

// surgeNonZero is true when a maxSurge (absent means 25%) resolves to at
// least 1 for any positive replica count: a positive int, or a positive
// percent, which rounds up.
func surgeNonZero(maxSurge string) string {
	ms := maxSurge + ".orValue('" + defaultRollingUpdateMax + "')"
	return fmt.Sprintf("(type(%s) == int ? %s > 0 : (type(%s) == string && %s.matches('^[0-9]{1,3}%%$') && !%s.matches('^0+%%$')))",
		ms, ms, ms, ms, ms)
}

// cannotSurge is true when a pod spec's pods may not be able to run twice,
// a superset of what surgeOf reads: hostNetwork, a hostPort on a container
// or an init container, any resource name with a "/" (extended resources
// are among them), any required pod anti-affinity, any DRA resourceClaims,
// any hostPath volume. A value of an unexpected type counts: the safe
// default is to call.
func cannotSurge(spec string) string {
	ports := "c.?ports.orValue([]).exists(p, p.?hostPort.orValue(0) != 0)"
	resources := "c.?resources.?limits.orValue({}).exists(k, k.contains('/')) || c.?resources.?requests.orValue({}).exists(k, k.contains('/'))"
	container := "(" + ports + " || " + resources + ")"
	return fmt.Sprintf("[%s.orValue({})].all(s, [s.?hostNetwork.orValue(false)].all(h, type(h) != bool || h) || "+
		"s.?containers.orValue([]).exists(c, %s) || s.?initContainers.orValue([]).exists(c, %s) || "+
		"s.?affinity.?podAntiAffinity.?requiredDuringSchedulingIgnoredDuringExecution.orValue([]).size() > 0 || "+
		"s.?resourceClaims.orValue([]).size() > 0 || s.?volumes.orValue([]).exists(v, has(v.hostPath)))", spec, container, container)
}

// replicasSafe is true when a maxUnavailable (absent means 25%) keeps at
// least one of the replicas up, or there are none: an int below the count, or
// a percent below 100. Anything else (negative counts, other strings) calls.
func replicasSafe(maxUnavailable, replicas string) string {
	mu := maxUnavailable + ".orValue('" + defaultRollingUpdateMax + "')"
	return fmt.Sprintf("(%s == 0 || (%s > 0 && (type(%s) == int ? %s < %s : (type(%s) == string && %s.matches('^[0-9]{1,2}%%$')))))",
		replicas, replicas, mu, mu, replicas, mu, mu)
}

// podQuiet is true when the pod rules have nothing to say about a pod spec:
// the pods do not serve (restartPolicy other than Always, a mirror pod, an
// owner kind the configuration skips), or every container has a readiness
// probe and a preStop hook whose delay is known, and the grace period covers
// the longest delay plus shutdownSeconds. Native sidecars always call.
//
// The spec, the grace period and each hook are bound once with a
// one-element list's all(): the API server's CEL environment has no let.
func podQuiet(meta, spec, ownerKind string) string {
	notServing := orAll(
		"!(s.?restartPolicy.orValue('') in ['', 'Always'])",
		fmt.Sprintf("%q in %s.?annotations.orValue({})", corev1.MirrorPodAnnotationKey, meta),
		ownerKind+" in "+paramSkipOwnerKinds.Token)
	covered := andAll(
		"!s.?initContainers.orValue([]).exists(c, has(c.restartPolicy))",
		"g >= "+paramShutdown.Token,
		"s.?containers.orValue([]).all(c, has(c.readinessProbe) && "+hookCovered("c", "g")+")")
	return fmt.Sprintf("[%s.orValue({})].all(s, %s && [s.?terminationGracePeriodSeconds.orValue(%d)].all(g, %s))",
		spec, sized("s"), corev1.DefaultTerminationGracePeriodSeconds, orAll(notServing, covered))
}

// sized is true when a pod spec holds at most policies.MaxContainers containers. It
// comes before any walk of the containers, and && stops at the first false:
// a pod spec past the bound is sent to gracekeeper, which answers it at
// once without judging it (DecideLimit), instead of costing the API server
// seconds of CEL per entry (8 s for 64,000 containers).
func sized(spec string) string {
	count := func(field string) string { return spec + ".?" + field + ".orValue([]).size()" }
	return fmt.Sprintf("(%s + %s + %s <= %d)", count("containers"), count("initContainers"), count("ephemeralContainers"), policies.MaxContainers)
}

// hookCovered is true when a container's preStop hook is a form whose delay
// the engine reads (the sleep action, exec ["sleep", "N"]) and the grace
// period covers that delay plus shutdownSeconds. The sleep is bounded before
// the sum, so the sum cannot overflow.
func hookCovered(c, grace string) string {
	sleep := fmt.Sprintf("[h.sleep.?seconds.orValue(0)].all(n, n <= 2147483647 && %s >= (n > 0 ? n : 0) + %s)", grace, paramShutdown.Token)
	exec := fmt.Sprintf("has(h.exec) && [h.exec.?command.orValue([])].all(cmd, cmd.size() == 2 && cmd[0] == 'sleep' && "+
		"cmd[1].matches('^[1-9][0-9]{0,8}$') && %s >= int(cmd[1]) + %s)", grace, paramShutdown.Token)
	return fmt.Sprintf("(has(%s.lifecycle) && has(%s.lifecycle.preStop) && [%s.lifecycle.preStop].all(h, has(h.sleep) ? %s : %s))",
		c, c, c, sleep, exec)
}

func andAll(terms ...string) string { return strings.Join(terms, " && ") }

func orAll(terms ...string) string {
	wrapped := make([]string, len(terms))
	for i, t := range terms {
		wrapped[i] = "(" + t + ")"
	}
	return strings.Join(wrapped, " || ")
}

func celList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = "'" + s + "'"
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// uniq drops repeated entries and keeps the first of each, as Helm's uniq does.
func uniq(items []string) []string {
	out := []string{}
	for _, s := range items {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func nonNil(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}
