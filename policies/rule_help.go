package policies

// ruleHelp is each rule's help text for code-scanning tools (the SARIF
// output of `gracekeeper check`): what the rule looks at and what to do.
var ruleHelp = map[RuleID]string{
	RulePreStopHook: "Every serving container needs a preStop hook that sleeps a few seconds (5 by default), so the pod " +
		"leaves the Service endpoints before it gets SIGTERM. gracekeeper adds lifecycle.preStop.sleep (exec sleep below " +
		"Kubernetes 1.33, never on Windows pods, which then get none and a warning); a tcpSocket hook, which the kubelet " +
		"never runs, is replaced. Job and CronJob pods, run-once and mirror pods are skipped.",
	RuleTerminationGracePeriod: "terminationGracePeriodSeconds must cover the longest preStop delay plus the shutdown time " +
		"(25 s by default), then each native sidecar's shutdown (5 s by default), since sidecars stop after the app. " +
		"gracekeeper raises it, never lowers it, and warns about a preStop hook whose delay it cannot read.",
	RuleRollingUpdate: "A rolling update must not let every pod of a Deployment, StatefulSet, DaemonSet or Argo Rollout " +
		"go down at once, as the controller resolves maxSurge and maxUnavailable (maxSurge: 0 on one replica takes it " +
		"down). gracekeeper sets maxUnavailable: 0 with a surge where pods can surge, and maxUnavailable: 1, maxSurge: 0 " +
		"(one pod at a time) on pods that cannot (a GPU or other extended resource, a hostPath directory, a host port, " +
		"hostname anti-affinity), StatefulSets and DaemonSets. A single such pod, PVC Deployments and operator-owned " +
		"objects are only warned about.",
	RuleRecreateStrategy: "strategy Recreate stops every pod before new ones start: each rollout is an outage. Use " +
		"RollingUpdate with maxUnavailable: 0 and a surge, and \"kubectl rollout restart\" to restart. Pods that cannot " +
		"surge (a GPU, a hostPath directory, a host port, hostname anti-affinity, a PVC) and operator-owned objects keep " +
		"Recreate, with a warning: run 2+ replicas with a PodDisruptionBudget, or leave room for a second copy.",
	RuleRevisionHistory: "revisionHistoryLimit below the minimum (3 by default) leaves \"kubectl rollout undo\" nothing " +
		"to go back to. gracekeeper raises it.",
	RuleUpdateStrategy: "A StatefulSet's or DaemonSet's updateStrategy OnDelete never rolls a change out: pods change only " +
		"when deleted. Use RollingUpdate, and \"kubectl rollout restart\" to restart.",
	RuleScaleToZero: "Taking replicas from more than 0 to 0 stops the service; scaling back is a cold start. Use " +
		"\"kubectl rollout restart\" to restart, or record an exemption to scale to zero on purpose.",
	RuleScaleDown: "One write that takes a workload down by more than half of its replicas leaves the rest to carry the " +
		"load. A manifest applied without spec.replicas (to hand it to an HPA) resets it to 1: remove it from the last " +
		"applied configuration first. Scale down in steps.",
	RuleWorkloadDelete: "Deleting a Deployment, StatefulSet or ReplicaSet with replicas, a DaemonSet with scheduled pods, " +
		"or a namespace that holds one (which deletes every workload in it) stops the service. Use the owner's restart " +
		"(\"kubectl rollout restart\" where it works), or " +
		"delete with --cascade=orphan; annotate the object with an exemption to decommission it.",
	RulePodDelete: "Deleting a controller's pod is a restart without a rollout: use its owner's restart (\"kubectl rollout " +
		"restart\" for a Deployment). A bare pod is not recreated at all. Pods with no container running, a service account " +
		"rolling a StatefulSet, DaemonSet or custom controller by deleting pods, and node terminators are left alone.",
	RuleForceDelete: "A grace override on a running pod's delete or eviction (--grace-period=0, --now, drain " +
		"--grace-period) that does not outlast its preStop sleep skips its graceful shutdown. Only pods with a container " +
		"running are judged (not ContainerCreating, ImagePullBackOff or CrashLoopBackOff, Job or mirror pods). A pod stuck " +
		"Terminating can still be force-deleted; node terminators (Karpenter, cluster-autoscaler) are exempt.",
	RuleReadinessProbe: "A container without a readinessProbe is Ready before it serves, so a rolling update cannot wait " +
		"for it. Add a readinessProbe.",
	RuleModeLabel: "The namespace label gracekeeper.io/mode must be enforce, audit or off: any other value matches no " +
		"webhook and silently switches enforcement off.",
	RuleChangeCause: "A write that changes the pod template of a Deployment, StatefulSet or DaemonSet gets the " +
		"kubernetes.io/change-cause annotation that \"kubectl rollout history\" shows: what changed, by whom, with what " +
		"tool, or the revision a rollback restores. A change-cause the request writes itself is kept. Set changeCause: off " +
		"in the configuration to record nothing.",
	RuleExemption: "The gracekeeper.io/exempt annotation must name known rule ids (or all) and come with a " +
		"gracekeeper.io/exempt-reason that records why.",
}

// RuleHelp is a rule's help text: what it looks at and what to do, a few
// sentences. It is "" for an id that is not a rule.
func RuleHelp(id RuleID) string { return ruleHelp[id] }

// ReportedRules lists every id a finding can carry: the registered rules in
// report order, then RuleExemption.
func ReportedRules() []RuleID { return append(ruleIDs(), RuleExemption) }
