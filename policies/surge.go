package policies

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// surge says whether a rollout may run a second copy of a pod beside the
// first. Every rule that asks for surge (rolling-update, recreate-strategy,
// DaemonSet maxSurge) asks this one predicate first. gracekeeper does no
// lookups, so it cannot know whether the cluster has room for a second copy:
// a pod that holds something a second copy would also need is taken at its
// word, and a user's Recreate or maxSurge 0 on it is kept (see checkRecreateStrategy
// and checkRollingUpdate).
type surge struct {
	// hostBound names why a second copy can never run on the same node
	// ("uses hostNetwork", "uses hostPort 443 in container \"proxy\"",
	// "requires pod anti-affinity on kubernetes.io/hostname against its own
	// labels"), or "". On a node, such pods roll one at a time.
	hostBound string
	// at is the JSON pointer, within the pod spec, of what binds the pods to
	// the node ("/hostNetwork", "/initContainers/0/ports/0/hostPort"), or of
	// what the pod holds when it is not host-bound.
	at string
	// held names what each copy needs for itself, which a second copy may not
	// find free: an extended resource ("requests nvidia.com/gpu in container
	// \"vllm\""), a DRA device claim, or a node-local data directory
	// ("mounts hostPath /var/lib/rook/mon-a/data"). "" for none.
	held string
	// risk says what happens to a surge pod, for messages: "each surge pod
	// needs a free nvidia.com/gpu, or the rollout hangs".
	risk string
	// claim names a PersistentVolumeClaim the pods mount, or "". The webhook
	// does no lookups, so any claim counts: a ReadWriteOnce volume cannot
	// attach to two nodes, and gracekeeper leaves such rollouts as they are.
	claim string
}

// surgeOf reads a pod spec: spec.hostNetwork; the hostPort of every port and
// the resources of the regular, init and native sidecar containers (the API
// refuses ports and resources on ephemeral containers); required pod
// anti-affinity on kubernetes.io/hostname; spec.resourceClaims; and the
// volumes' hostPath and persistentVolumeClaim.
//
// The API server copies containerPort into hostPort on Pods with hostNetwork
// (pkg/apis/core/v1 defaults), but not in workload templates, so hostNetwork
// is read by itself.
func surgeOf(spec *corev1.PodSpec, labels map[string]string) surge {
	var s surge
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			s.claim = v.PersistentVolumeClaim.ClaimName
			break
		}
	}
	if why, at := hostBoundOf(spec, labels); why != "" {
		s.hostBound, s.at, s.risk = why, at, "each surge pod needs a node whose ports are free, or the rollout hangs"
		if strings.Contains(why, "anti-affinity") {
			s.risk = "each surge pod needs a node that runs no copy yet, or the rollout hangs"
		}
		return s
	}
	s.held, s.at, s.risk = heldOf(spec)
	return s
}

// hostBoundOf names what keeps two copies of the pod off one node, with its
// JSON pointer in the pod spec.
func hostBoundOf(spec *corev1.PodSpec, labels map[string]string) (why, at string) {
	if spec.HostNetwork {
		return "uses hostNetwork", "/hostNetwork"
	}
	check := func(list string, i int, kind string, c *corev1.Container) bool {
		for j, p := range c.Ports {
			if p.HostPort != 0 {
				why = fmt.Sprintf("uses hostPort %d in %s %q", p.HostPort, kind, c.Name)
				at = fmt.Sprintf("/%s/%d/ports/%d/hostPort", list, i, j)
				return true
			}
		}
		return false
	}
	for i := range spec.Containers {
		if check("containers", i, "container", &spec.Containers[i]) {
			return why, at
		}
	}
	for i := range spec.InitContainers {
		if check("initContainers", i, containerKind(&spec.InitContainers[i]), &spec.InitContainers[i]) {
			return why, at
		}
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for i, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == corev1.LabelHostname && selectsOwnLabels(term, labels) {
				return "requires pod anti-affinity on " + corev1.LabelHostname + " against its own labels",
					fmt.Sprintf("/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/%d", i)
			}
		}
	}
	return "", ""
}

// selectsOwnLabels reports whether an anti-affinity term's label selector
// matches the pod's own labels, so a second copy repels the first. A term
// scoped to other namespaces (namespaces or namespaceSelector) is read as
// matching too: the copies share a namespace, and the safe reading is the
// one that keeps the user's choice.
func selectsOwnLabels(term corev1.PodAffinityTerm, labels map[string]string) bool {
	sel := term.LabelSelector
	if sel == nil {
		return false // a nil selector matches no pods
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		v, has := labels[e.Key]
		switch e.Operator {
		case "In":
			if !has || !slices.Contains(e.Values, v) {
				return false
			}
		case "NotIn":
			if has && slices.Contains(e.Values, v) {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// heldOf names the first thing the pod holds for itself that a second copy
// would need too: an extended resource, a DRA claim, a hostPath volume.
func heldOf(spec *corev1.PodSpec) (held, at, risk string) {
	check := func(list string, i int, c *corev1.Container) bool {
		for _, part := range []struct {
			name string
			list corev1.ResourceList
		}{{"limits", c.Resources.Limits}, {"requests", c.Resources.Requests}} {
			for _, name := range slices.Sorted(maps.Keys(part.list)) {
				if q := part.list[name]; isExtendedResourceName(name) && q.Sign() > 0 {
					kind := "container"
					if list == "initContainers" {
						kind = containerKind(c)
					}
					held = fmt.Sprintf("requests %s %s in %s %q", q.String(), name, kind, c.Name)
					if kind == "init container" {
						held = fmt.Sprintf("requests %s %s in init container %q (the scheduler reserves it for the pod)", q.String(), name, c.Name)
					}
					at = fmt.Sprintf("/%s/%d/resources/%s/%s", list, i, part.name, jsonPointerEscape(string(name)))
					risk = "each surge pod needs a free " + string(name) + ", or the rollout hangs"
					return true
				}
			}
		}
		return false
	}
	for i := range spec.Containers {
		if check("containers", i, &spec.Containers[i]) {
			return held, at, risk
		}
	}
	for i := range spec.InitContainers {
		if check("initContainers", i, &spec.InitContainers[i]) {
			return held, at, risk
		}
	}
	// A claim made from a template is each pod's own, so a surge pod needs
	// devices of its own (DRA, KEP-4381); a named claim is shared by its pods.
	for i, c := range spec.ResourceClaims {
		if c.ResourceClaimTemplateName != nil {
			return fmt.Sprintf("claims its own devices through resourceClaims %q", c.Name),
				fmt.Sprintf("/resourceClaims/%d", i), "each surge pod needs a free device for its claim, or the rollout hangs"
		}
	}
	for i, v := range spec.Volumes {
		if v.HostPath != nil && hostDataDirectory(spec, v) {
			return fmt.Sprintf("mounts hostPath %s", v.HostPath.Path), fmt.Sprintf("/volumes/%d/hostPath", i),
				"each surge pod writes the same node-local directory as the pod it replaces, while both run"
		}
	}
	return "", "", ""
}

// hostDataDirectory reports whether a hostPath volume is a node-local data
// directory: a directory (type "", Directory or DirectoryOrCreate) that a
// container mounts read-write. Sockets, devices, files and read-only mounts
// (/var/run/docker.sock, /etc/localtime, /proc) do not stop a second copy.
func hostDataDirectory(spec *corev1.PodSpec, v corev1.Volume) bool {
	if t := v.HostPath.Type; t != nil && *t != corev1.HostPathUnset && *t != corev1.HostPathDirectory && *t != corev1.HostPathDirectoryOrCreate {
		return false
	}
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for _, c := range list {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && !m.ReadOnly {
					return true
				}
			}
		}
	}
	return false
}

// isExtendedResourceName is the API server's rule (IsExtendedResourceName in
// k8s.io/kubernetes pkg/apis/core/helper): a name outside the kubernetes.io
// domain (a name without a "/" is in it), not prefixed "requests.", that is
// a qualified name once prefixed "requests.". Such resources (nvidia.com/gpu,
// amd.com/gpu, a device plugin's) are counted in whole units per node and
// never overcommitted. k8s.io/api exports no copy of it.
func isExtendedResourceName(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

// jsonPointerEscape escapes a map key for a JSON pointer (RFC 6901).
func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func containerKind(c *corev1.Container) string {
	if isSidecar(c) {
		return "sidecar"
	}
	return "init container"
}

// canSurge reports whether nothing stops a second copy of the pods.
func (s surge) canSurge() bool { return s.hostBound == "" && s.held == "" && s.claim == "" }

// exclusive reports whether each copy needs something of its own that gracekeeper
// can name (a node's ports, a node, a device, a directory), as opposed to a
// claim, whose access mode it cannot see.
func (s surge) exclusive() bool { return s.hostBound != "" || s.held != "" }

// why says what stops a surge, for messages: "the pod uses hostNetwork".
func (s surge) why() string {
	switch {
	case s.hostBound != "":
		return "the pod " + s.hostBound
	case s.held != "":
		return "the pod " + s.held
	}
	return "the pod mounts PersistentVolumeClaim " + s.claim
}

// downtimeAdvice says how to keep a workload whose pods cannot surge up
// through a rollout, for the warnings that keep the user's choice. Short:
// the API server cuts a warning at 256 characters.
func downtimeAdvice(replicas int32) string {
	if replicas > 1 {
		return "to keep pods up, roll one at a time (maxUnavailable: 1, maxSurge: 0) with a PodDisruptionBudget"
	}
	return "to avoid it: 2+ replicas and a PodDisruptionBudget, or room for a 2nd copy and maxSurge: 1"
}

// isSidecar reports whether an init container is a native sidecar: it keeps
// running beside the main containers (restartPolicy Always, Kubernetes 1.29+).
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
