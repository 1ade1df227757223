package policies

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Labels and annotations that name a pod's real owner when its direct owner
// is a ReplicaSet or ReplicationController that something else manages. The
// pod carries only its direct ownerReference, and gracekeeper reads no owner
// chain, so these are what one request shows.
const (
	// argoRolloutsHashLabel is set by Argo Rollouts on the ReplicaSets and pods
	// of a Rollout instead of pod-template-hash; the ReplicaSet is named
	// <rollout>-<hash>.
	argoRolloutsHashLabel = "rollouts-pod-template-hash"
	// deploymentConfigAnnotation is set by OpenShift on the
	// ReplicationControllers and pods of a DeploymentConfig.
	deploymentConfigAnnotation = "openshift.io/deployment-config.name"
)

// restarter is what restarts a set of pods gracefully: their real owner as
// one request shows it, and its update strategy where the request shows it.
type restarter struct {
	// kind and name of the owner, e.g. Deployment and web; kind "" for a bare pod.
	kind, name string
	// onDelete is the owner's updateStrategy OnDelete, nil where the request does
	// not show it (a pod names its StatefulSet, not the StatefulSet's strategy).
	onDelete *bool
}

// restarterOfPod reads a pod's controller ownerReference with its
// pod-template-hash, rollouts-pod-template-hash label and DeploymentConfig
// annotation: a ReplicaSet named <deployment>-<pod-template-hash> is a
// Deployment's, <rollout>-<rollouts-pod-template-hash> an Argo Rollout's.
func restarterOfPod(pod *corev1.Pod) restarter {
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return restarter{}
	}
	switch owner.Kind {
	case "ReplicaSet":
		if name, ok := strings.CutSuffix(owner.Name, "-"+pod.Labels[podTemplateHashLabel]); ok && pod.Labels[podTemplateHashLabel] != "" {
			return restarter{kind: "Deployment", name: name}
		}
		if name, ok := strings.CutSuffix(owner.Name, "-"+pod.Labels[argoRolloutsHashLabel]); ok && pod.Labels[argoRolloutsHashLabel] != "" {
			return restarter{kind: "Rollout", name: name}
		}
	case "ReplicationController":
		if dc := pod.Annotations[deploymentConfigAnnotation]; dc != "" {
			return restarter{kind: "DeploymentConfig", name: dc}
		}
	}
	return restarter{kind: owner.Kind, name: owner.Name}
}

// restarterOfWorkload is the reviewed workload itself, with its strategy; for
// a ReplicaSet (read from the object, or from the parent of a /scale) its
// controller: a Deployment or an Argo Rollout.
func restarterOfWorkload(ev *evaluation) restarter {
	r := ev.review
	self := restarter{kind: r.Kind, name: ev.name()}
	for _, obj := range []runtime.Object{r.Object, r.OldObject, r.Parent} {
		if k := kindOf(obj); k != nil && k.onDelete != nil {
			onDelete := k.onDelete(obj)
			self.onDelete = &onDelete
			return self
		}
		if rs, ok := obj.(*appsv1.ReplicaSet); ok {
			if owner := metav1.GetControllerOfNoCopy(rs); owner != nil && (owner.Kind == "Deployment" || owner.Kind == "Rollout") {
				return restarter{kind: owner.Kind, name: owner.Name}
			}
			return self
		}
	}
	return self
}

// command is the one command that restarts the pods gracefully, "" where
// none does (OnDelete, bare ReplicaSets, Jobs, Nodes, unknown kinds).
func (o restarter) command() string {
	switch o.kind {
	case "Deployment":
		return "kubectl rollout restart " + objectRef(o.kind, o.name)
	case "StatefulSet", "DaemonSet":
		if o.onDelete == nil || !*o.onDelete {
			return "kubectl rollout restart " + objectRef(o.kind, o.name)
		}
	case "Rollout":
		return "kubectl argo rollouts restart " + o.name
	case "DeploymentConfig":
		return "oc rollout latest dc/" + o.name
	}
	return ""
}

// caveat is what the request cannot show about command: a pod names its
// StatefulSet or DaemonSet, not whether its updateStrategy is OnDelete.
func (o restarter) caveat() string {
	if o.onDelete == nil && (o.kind == "StatefulSet" || o.kind == "DaemonSet") {
		return fmt.Sprintf("; if %s has updateStrategy OnDelete, that changes no pod: %s instead", objectRef(o.kind, o.name), deletePodsOneAtATime)
	}
	return ""
}

// deletePodsOneAtATime is the restart of pods whose owner has no rollout that replaces them.
const deletePodsOneAtATime = "delete its pods one at a time, waiting for each new pod to be Ready"

// advice says how to restart the pods gracefully, as a phrase that follows
// "to restart, " ("use \"kubectl rollout restart deployment/web\""); "" where
// nothing restarts them (a bare pod, a Job's, a mirror pod's Node).
func (o restarter) advice() string {
	if command := o.command(); command != "" {
		return fmt.Sprintf("use %q", command) + o.caveat()
	}
	switch o.kind {
	case "", "Job", "CronJob", "Node":
		return ""
	case "StatefulSet", "DaemonSet":
		return deletePodsOneAtATime + `: with updateStrategy OnDelete, "kubectl rollout restart" changes no pod`
	case "ReplicaSet":
		return "apply a Deployment that selects its pods (it adopts them and rolls out)"
	case "ReplicationController":
		return deletePodsOneAtATime + ": a ReplicationController has no rollout"
	}
	return fmt.Sprintf("use the restart of the controller that manages %s; gracekeeper knows no command for a %s", objectRef(o.kind, o.name), o.kind)
}

// RestartOf names, from the pod, the workload that restarts it
// ("deployment/web", "rollout/web"; "" for a bare pod) and the one command
// that restarts it gracefully ("" where none does, see restarter.command).
// updateStrategies holds what the caller has seen of StatefulSets and
// DaemonSets ("statefulset/db" -> OnDelete); for one it has not seen, the
// pod cannot tell whether a rollout restart changes anything, so there is no command.
func RestartOf(pod *corev1.Pod, updateStrategies map[string]bool) (owner, command string) {
	o := restarterOfPod(pod)
	if o.kind == "" {
		return "", ""
	}
	owner = objectRef(o.kind, o.name)
	if onDelete, ok := updateStrategies[owner]; ok {
		o.onDelete = &onDelete
	}
	if o.caveat() != "" {
		return owner, ""
	}
	return owner, o.command()
}

// IsOnDelete reports whether a StatefulSet or DaemonSet has updateStrategy
// OnDelete; ok is false for a kind without the field.
func IsOnDelete(obj runtime.Object) (onDelete, ok bool) {
	k := kindOf(obj)
	if k == nil || k.onDelete == nil {
		return false, false
	}
	return k.onDelete(obj), true
}

// ownerScalesReplicaSet reports whether a service account writes the replicas
// of a ReplicaSet that a controller owns, read from the object or, for a
// /scale, its parent: the owner's own rollout (Argo Rollouts scales the
// ReplicaSets of a Rollout, old ones to zero, at every step; the deployment
// controller, a system actor, never gets here), never a person's scale.
func ownerScalesReplicaSet(ev *evaluation) bool {
	r := ev.review
	if !strings.HasPrefix(r.User.Username, serviceAccountPrefix) {
		return false
	}
	for _, obj := range []runtime.Object{r.Object, r.OldObject, r.Parent} {
		if rs, ok := obj.(*appsv1.ReplicaSet); ok {
			return metav1.GetControllerOfNoCopy(rs) != nil
		}
	}
	return false
}

// restartAdvice says how to restart the reviewed workload's pods without
// stopping them (see restarterOfWorkload and restarter.advice).
func restartAdvice(ev *evaluation) string {
	return restarterOfWorkload(ev).advice()
}
