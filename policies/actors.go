package policies

import "slices"

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
