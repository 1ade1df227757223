package policies

import (
	"fmt"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// NamespaceWorkloads is what a namespace under DELETE holds: its workloads
// that run pods. The webhook reads it (as Review.Parent) with one list per
// workload kind, within the parent-read budget, when NeedsParent says the
// answer depends on it; check and audit never see a namespace DELETE.
type NamespaceWorkloads struct {
	metav1.TypeMeta
	// Running are the workloads with pods, in the order listed.
	Running []HeldWorkload
	// More says a list stopped at its limit, so there may be more than Running.
	More bool
}

// NamespaceListLimit is the most objects of one kind the webhook lists for a
// namespace DELETE; past it NamespaceWorkloads.More is set.
const NamespaceListLimit = 100

// HeldWorkload is one workload a namespace holds: "deployment/web" and how
// many pods it runs (spec.replicas, or a DaemonSet's desiredNumberScheduled).
type HeldWorkload struct {
	Ref  string
	Pods int32
}

// DeepCopyObject makes NamespaceWorkloads a runtime.Object, as Review.Parent is.
func (n *NamespaceWorkloads) DeepCopyObject() runtime.Object {
	c := *n
	c.Running = slices.Clone(n.Running)
	return &c
}

// NamespaceListKinds are the kinds whose lists say what a namespace holds:
// every built-in (apps) kind workload-delete guards (see Kind.running), as
// the webhook lists them. A custom resource such as an Argo Rollout is not
// listed: it runs its pods through ReplicaSets, which Holds names by their
// owner, so the chart grants list on apps kinds only.
func NamespaceListKinds() []string {
	var names []string
	for _, k := range kinds {
		if k.running != nil && k.GVK.Group == "apps" {
			names = append(names, k.GVK.Kind)
		}
	}
	return names
}

// Holds adds the listed objects of one kind that run pods. A Deployment's
// ReplicaSets are counted with the Deployment, which is listed itself; a
// ReplicaSet of another owner that is not listed (an Argo Rollout's, a custom
// controller's) is named by that owner, from its ownerReference.
func (n *NamespaceWorkloads) Holds(objs []runtime.Object) {
	for _, obj := range objs {
		k := kindOf(obj)
		m, ok := obj.(metav1.Object)
		if k == nil || k.running == nil || !ok {
			continue
		}
		ref := objectRef(k.GVK.Kind, m.GetName())
		if owner := metav1.GetControllerOfNoCopy(m); owner != nil && k.GVK.Kind == "ReplicaSet" {
			if owner.Kind == "Deployment" {
				continue
			}
			ref = objectRef(owner.Kind, owner.Name)
		}
		if pods := k.running(obj); pods > 0 {
			n.Running = append(n.Running, HeldWorkload{Ref: ref, Pods: pods})
		}
	}
}

// describe says what deleting the namespace stops: "deployment/web (3 pods)
// and 2 more".
func (n *NamespaceWorkloads) describe() string {
	if len(n.Running) == 0 {
		return "workloads beyond the first " + strconv.Itoa(NamespaceListLimit) + " of a kind, which gracekeeper does not read"
	}
	first := n.Running[0]
	s := fmt.Sprintf("%s (%s)", first.Ref, countPods(first.Pods))
	switch rest := len(n.Running) - 1; {
	case n.More:
		s += " and more"
	case rest > 0:
		s += fmt.Sprintf(" and %d more", rest)
	}
	return s
}

// countPods says "1 pod" or "3 pods".
func countPods(n int32) string {
	if n == 1 {
		return "1 pod"
	}
	return itoa(n) + " pods"
}
