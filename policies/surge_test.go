package policies

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Overlays of the seed Deployment whose pods cannot surge.
const (
	hostPathData = `
spec:
  template:
    spec:
      volumes: [{name: data, hostPath: {path: /var/lib/app}}]
      containers:
      - {name: nginx, image: "nginx:1.18", volumeMounts: [{name: data, mountPath: /data}]}
`
	antiAffinity = `
spec:
  template:
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - {topologyKey: kubernetes.io/hostname, labelSelector: {matchExpressions: [{key: app, operator: In, values: [nginx]}]}}
`
	oneGPU = `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.18", resources: {limits: {nvidia.com/gpu: 1}}}]}}}}`
)

func TestSurgeOf(t *testing.T) {
	tests := []struct {
		name     string
		overlay  string
		canSurge bool
		why, at  string
	}{
		{name: "A plain pod can surge.", overlay: "{}", canSurge: true},
		{name: "An nvidia.com/gpu limit holds a device.", overlay: oneGPU,
			why: `the pod requests 1 nvidia.com/gpu in container "nginx"`, at: "/containers/0/resources/limits/nvidia.com~1gpu"},
		{name: "An extended resource on a plain init container is reserved for the pod by the scheduler.",
			overlay: `{spec: {template: {spec: {initContainers: [{name: load, image: busybox, resources: {requests: {example.com/fpga: 1}}}]}}}}`,
			why:     `the pod requests 1 example.com/fpga in init container "load" (the scheduler reserves it for the pod)`, at: "/initContainers/0/resources/requests/example.com~1fpga"},
		{name: "An extended resource of 0 holds nothing.", overlay: `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.18", resources: {limits: {nvidia.com/gpu: 0}}}]}}}}`, canSurge: true},
		{name: "Unprefixed and kubernetes.io names are native, not extended.",
			overlay: `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.18", resources: {limits: {cpu: 2, memory: 1Gi, ephemeral-storage: 1Gi, hugepages-1Gi: 1Gi, example.kubernetes.io/thing: 1}}}]}}}}`, canSurge: true},
		{name: "A read-write hostPath directory is node-local data.", overlay: hostPathData,
			why: "the pod mounts hostPath /var/lib/app", at: "/volumes/0/hostPath"},
		{name: "A hostPath socket does not stop a surge.",
			overlay: `{spec: {template: {spec: {volumes: [{name: sock, hostPath: {path: /run/containerd.sock, type: Socket}}], containers: [{name: nginx, image: "nginx:1.18", volumeMounts: [{name: sock, mountPath: /run/containerd.sock}]}]}}}}`, canSurge: true},
		{name: "A hostPath no container mounts does not stop a surge.",
			overlay: `{spec: {template: {spec: {volumes: [{name: data, hostPath: {path: /var/lib/app}}]}}}}`, canSurge: true},
		{name: "Required anti-affinity on the hostname against the pod's own labels binds the pods to distinct nodes.", overlay: antiAffinity,
			why: "the pod requires pod anti-affinity on kubernetes.io/hostname against its own labels", at: "/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0"},
		{name: "Anti-affinity on a zone lets two copies share a node's zone peers: not host-bound.",
			overlay: `{spec: {template: {spec: {affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: nginx}}}]}}}}}}`, canSurge: true},
		{name: "Preferred anti-affinity never stops a pod from scheduling.",
			overlay: `{spec: {template: {spec: {affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: nginx}}}}]}}}}}}`, canSurge: true},
		{name: "A shared, named DRA claim is shared by the surge pod too.",
			overlay: `{spec: {template: {spec: {resourceClaims: [{name: gpu, resourceClaimName: shared-gpu}]}}}}`, canSurge: true},
		{name: "A hostPort wins over what the pod holds: it is what stops the surge on the node.",
			overlay: `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.18", ports: [{containerPort: 80, hostPort: 80}], resources: {limits: {nvidia.com/gpu: 1}}}]}}}}`,
			why:     `the pod uses hostPort 80 in container "nginx"`, at: "/containers/0/ports/0/hostPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(t, tt.overlay)
			s := surgeOf(&d.Spec.Template.Spec, d.Spec.Template.Labels)
			if s.canSurge() != tt.canSurge {
				t.Fatalf("canSurge = %v, want %v (%+v)", s.canSurge(), tt.canSurge, s)
			}
			if tt.canSurge {
				return
			}
			if s.why() != tt.why || s.at != tt.at {
				t.Errorf("why, at = %q, %q, want %q, %q", s.why(), s.at, tt.why, tt.at)
			}
		})
	}
}

func TestIsExtendedResourceName(t *testing.T) {
	for name, want := range map[corev1.ResourceName]bool{
		"nvidia.com/gpu": true, "amd.com/gpu": true, "example.com/foo": true, "gpu.intel.com/i915": true,
		"cpu": false, "memory": false, "hugepages-2Mi": false, "kubernetes.io/foo": false, "node.kubernetes.io/foo": false,
		"requests.example.com/foo": false, "example.com/": false, "example.com/a/b": false,
	} {
		if got := isExtendedResourceName(name); got != want {
			t.Errorf("isExtendedResourceName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestFenceposts pins the deployment controller's resolution of maxSurge and
// maxUnavailable (ResolveFenceposts) across replica counts and spellings.
func TestFenceposts(t *testing.T) {
	i := func(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
	s := func(p string) *intstr.IntOrString { v := intstr.FromString(p); return &v }
	tests := []struct {
		name              string
		surge, unavailble *intstr.IntOrString
		replicas          int32
		up, down          int32
	}{
		{"absent values are 25%: 1 replica surges 1 and keeps it up", nil, nil, 1, 1, 0},
		{"absent values are 25%: 4 replicas surge 1, 1 down", nil, nil, 4, 1, 1},
		{"absent values are 25%: 10 replicas surge 3 (up), 2 down (down)", nil, nil, 10, 3, 2},
		{"maxSurge 0 with the default 25% on 1 replica: both 0, so 1 down: all of it", i(0), nil, 1, 0, 1},
		{"maxSurge 0 with 25% on 3 replicas: both 0, so 1 down of 3", i(0), nil, 3, 0, 1},
		{"maxSurge 0% with 10% on 1 replica: all down", s("0%"), s("10%"), 1, 0, 1},
		{"maxSurge 0 with 50% on 2 replicas: 1 down of 2", i(0), s("50%"), 2, 0, 1},
		{"maxSurge 1% rounds up to 1 on 1 replica: none down", s("1%"), s("25%"), 1, 1, 0},
		{"maxUnavailable 99% of 1 rounds down to 0, with a surge", s("25%"), s("99%"), 1, 1, 0},
		{"maxUnavailable 100% of 3 is all", s("25%"), s("100%"), 3, 1, 3},
		{"maxUnavailable 5 of 3 is capped at 3", i(1), i(5), 3, 1, 3},
		{"maxUnavailable 1 of 1 is all", i(0), i(1), 1, 0, 1},
		{"maxUnavailable 0 with maxSurge 0, which validation refuses, still takes 1 down", i(0), i(0), 2, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, down := fenceposts(tt.surge, tt.unavailble, tt.replicas, false)
			if up != tt.up || down != tt.down {
				t.Errorf("fenceposts = up %d, down %d, want %d, %d", up, down, tt.up, tt.down)
			}
		})
	}
	if up, down := fenceposts(s("0"), s("25"), 1, true); up != 0 || down != 1 {
		t.Errorf("Argo's \"0\" and \"25\" (percents without the sign) on 1 replica = %d, %d, want 0, 1", up, down)
	}
}

// TestRollingUpdateJudgesTheResolvedStrategy: whatever the spelling, a
// strategy the controller runs with every pod down is found, for every
// replica count, and fixed with a surge only where the pods can surge.
func TestRollingUpdateJudgesTheResolvedStrategy(t *testing.T) {
	e := defaultEngine(t)
	spellings := []struct {
		strategy string
		// allDownAt reports the replica counts at which the controller takes every pod down.
		allDownAt func(n int) bool
	}{
		{`{maxSurge: 0}`, func(n int) bool { return n == 1 }},                      // 25% rounds down to 0 below 4
		{`{maxSurge: 0, maxUnavailable: 10%}`, func(n int) bool { return n == 1 }}, // both 0 up to 9: 1 down
		{`{maxSurge: 0%, maxUnavailable: 1}`, func(n int) bool { return n == 1 }},
		{`{maxSurge: 0, maxUnavailable: 2}`, func(n int) bool { return n <= 2 }},
		{`{maxSurge: 1, maxUnavailable: 100%}`, func(n int) bool { return true }},
		{`{maxSurge: 25%, maxUnavailable: 99%}`, func(n int) bool { return false }},
		{`{maxUnavailable: 3}`, func(n int) bool { return n <= 3 }},
		{`{}`, func(n int) bool { return false }},
		{`{maxSurge: 1%, maxUnavailable: 0}`, func(n int) bool { return false }},
	}
	for _, sp := range spellings {
		for _, n := range []int{1, 2, 3, 4, 5, 10, 100} {
			for _, shape := range []struct {
				name, overlay string
				canSurge      bool
			}{{"plain", "{}", true}, {"GPU", oneGPU, false}} {
				overlay := `{spec: {replicas: ` + itoa(int32(n)) + `, strategy: {type: RollingUpdate, rollingUpdate: ` + sp.strategy + `}}}`
				fs := only(RuleRollingUpdate, e.Evaluate(create(deployment(t, overlay, shape.overlay))))
				allDown := sp.allDownAt(n)
				switch {
				case !allDown && shape.canSurge && len(fs) != 0:
					t.Errorf("%s, %d replicas, %s pods: keeps pods up, got %v", sp.strategy, n, shape.name, fs)
				case allDown && len(fs) != 1:
					t.Errorf("%s, %d replicas, %s pods: takes every pod down, got %v", sp.strategy, n, shape.name, fs)
				case allDown && shape.canSurge && fs[0].Action != ActionPatch:
					t.Errorf("%s, %d replicas: pods that can surge are patched, got %v", sp.strategy, n, fs)
				case allDown && !shape.canSurge && n == 1 && fs[0].Action != ActionWarn:
					t.Errorf("%s, 1 replica, GPU: the user's choice is kept with a warning, got %v", sp.strategy, fs)
				case allDown && !shape.canSurge && n > 1 && (fs[0].Action != ActionPatch || hasSurge(fs[0].Patch)):
					t.Errorf("%s, %d replicas, GPU: rolled one at a time, never with a surge, got %v", sp.strategy, n, fs)
				}
			}
		}
	}
}

// hasSurge reports whether a patch sets a maxSurge other than 0.
func hasSurge(ops []PatchOp) bool {
	for _, op := range ops {
		if op.Path == "/spec/strategy/rollingUpdate/maxSurge" && op.Value != 0 {
			return true
		}
	}
	return false
}

// TestStatefulSetAndDaemonSetRounding pins how the StatefulSet controller
// (round down, at least 1: getStatefulSetMaxUnavailable) and the DaemonSet
// controller (round up: UnavailableCount) resolve maxUnavailable, across
// counts and spellings: every pod down is found, and the fix is one at a time.
func TestStatefulSetAndDaemonSetRounding(t *testing.T) {
	e := defaultEngine(t)
	for _, tt := range []struct {
		value     string
		allDownAt func(n int) bool // for a StatefulSet of n replicas (1 is never judged: it always goes down)
		dsAllDown func(n int) bool // for a DaemonSet on n nodes
	}{
		{`100%`, func(n int) bool { return n > 1 }, func(n int) bool { return true }},
		{`90%`, func(n int) bool { return false }, func(n int) bool { return n < 10 }},
		{`50%`, func(n int) bool { return false }, func(n int) bool { return n == 1 }},
		{`1%`, func(n int) bool { return false }, func(n int) bool { return n == 1 }},
		{`3`, func(n int) bool { return n > 1 && n <= 3 }, func(n int) bool { return n <= 3 }},
		{`1`, func(n int) bool { return false }, func(n int) bool { return false }},
	} {
		for _, n := range []int{1, 2, 3, 4, 10} {
			v := tt.value
			if v[len(v)-1] == '%' {
				v = `"` + v + `"`
			}
			sts := only(RuleRollingUpdate, e.Evaluate(create(statefulSet(t, `{spec: {replicas: `+itoa(int32(n))+`, updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: `+v+`}}}}`))))
			if got := len(sts) == 1; got != tt.allDownAt(n) {
				t.Errorf("StatefulSet maxUnavailable %s, %d replicas: finding %v, want %v", tt.value, n, sts, tt.allDownAt(n))
			}
			ds := only(RuleRollingUpdate, e.Evaluate(create(daemonSet(t, `{spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: `+v+`}}}, status: {desiredNumberScheduled: `+itoa(int32(n))+`}}`))))
			// A count on one node is judged only when it is a percentage: one node's pod is all of them either way.
			want := tt.dsAllDown(n) && (n > 1 || tt.value == "100%")
			if got := len(ds) == 1; got != want {
				t.Errorf("DaemonSet maxUnavailable %s on %d nodes: finding %v, want %v", tt.value, n, ds, want)
			}
			for _, f := range append(sts, ds...) {
				if f.Action != ActionPatch || hasSurge(f.Patch) {
					t.Errorf("%s: the fix is one pod at a time, never a surge: %v", tt.value, f)
				}
			}
		}
	}
}
