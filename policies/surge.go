package policies

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// surge says whether a rollout may run a second copy of a pod beside the
// first. Every rule that asks for surge (rolling-update, recreate-strategy's
// advice, DaemonSet maxSurge) asks this one predicate first.
type surge struct {
	// hostBound names why a second copy cannot start on the same node
	// ("uses hostNetwork", "uses hostPort 443 in container \"proxy\""), or "".
	// Such pods roll one at a time: maxUnavailable 1, maxSurge 0.
	hostBound string
	// at is the JSON pointer, within the pod spec, of what binds the pods to
	// the node: "/hostNetwork", "/initContainers/0/ports/0/hostPort".
	at string
	// claim names a PersistentVolumeClaim the pods mount, or "". The webhook
	// does no lookups, so any claim counts: a ReadWriteOnce volume cannot
	// attach to two nodes, and gracekeeper leaves such rollouts as they are.
	claim string
}

// surgeOf reads a pod spec: spec.hostNetwork, the hostPort of every port of
// the regular, init and native sidecar containers (the API refuses ports on
// ephemeral containers), and the volumes' persistentVolumeClaim.
//
// The API server copies containerPort into hostPort on Pods with hostNetwork
// (pkg/apis/core/v1 defaults), but not in workload templates, so hostNetwork
// is read by itself.
func surgeOf(spec *corev1.PodSpec) surge {
	var s surge
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			s.claim = v.PersistentVolumeClaim.ClaimName
			break
		}
	}
	if spec.HostNetwork {
		s.hostBound, s.at = "uses hostNetwork", "/hostNetwork"
		return s
	}
	check := func(list string, i int, kind string, c *corev1.Container) bool {
		for j, p := range c.Ports {
			if p.HostPort != 0 {
				s.hostBound = fmt.Sprintf("uses hostPort %d in %s %q", p.HostPort, kind, c.Name)
				s.at = fmt.Sprintf("/%s/%d/ports/%d/hostPort", list, i, j)
				return true
			}
		}
		return false
	}
	for i := range spec.Containers {
		if check("containers", i, "container", &spec.Containers[i]) {
			return s
		}
	}
	for i := range spec.InitContainers {
		kind := "init container"
		if isSidecar(&spec.InitContainers[i]) {
			kind = "sidecar"
		}
		if check("initContainers", i, kind, &spec.InitContainers[i]) {
			return s
		}
	}
	return s
}

// canSurge reports whether nothing stops a second copy of the pods.
func (s surge) canSurge() bool { return s.hostBound == "" && s.claim == "" }

// why says what stops a surge, for messages: "the pod uses hostNetwork".
func (s surge) why() string {
	if s.hostBound != "" {
		return "the pod " + s.hostBound
	}
	return "the pod mounts PersistentVolumeClaim " + s.claim
}

// isSidecar reports whether an init container is a native sidecar: it keeps
// running beside the main containers (restartPolicy Always, Kubernetes 1.29+).
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
