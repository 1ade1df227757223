package policies

import "testing"

func TestNeedsParent(t *testing.T) {
	engine := defaultEngine(t)
	read := evictionOf(pod(t, replicaSetPod, runningPod), gracePeriod(0))
	for _, tc := range []struct {
		name   string
		review *Review
		want   bool
	}{
		{"An eviction with a grace override needs its pod.", evictionOf(nil, gracePeriod(0)), true},
		{"An eviction without a grace override does not: PodDisruptionBudgets govern it.", evictionOf(nil, nil), false},
		{"An eviction whose pod was read needs nothing more.", read, false},
		{"A /scale to zero, which scale-to-zero denies, needs its workload's annotations.", scaleUpdate("Deployment", "nginx", 3, 0), true},
		{"A /scale up, which no guard judges, needs no read.", scaleUpdate("Deployment", "nginx", 3, 4), false},
		{"A request for the object itself carries its annotations.", update(deployment(t), deployment(t, `{spec: {replicas: 0}}`)), false},
		{"A namespace DELETE, which workload-delete denies until it knows, needs what the namespace holds.", deleteOf(namespace(t), nil), true},
		{"A namespace DELETE whose workloads were read needs nothing more.", namespaceHolding(t), false},
		{"A namespace DELETE exempt from workload-delete needs no read.", deleteOf(namespace(t, `{metadata: {annotations: {gracekeeper.io/exempt: workload-delete, gracekeeper.io/exempt-reason: team moved}}}`), nil), false},
		{"A Deployment DELETE carries what it is judged by.", deleteOf(deployment(t), nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsParent(tc.review, engine.Evaluate(tc.review)); got != tc.want {
				t.Errorf("NeedsParent = %v, want %v", got, tc.want)
			}
		})
	}
}

func namespaceHolding(t *testing.T) *Review {
	r := deleteOf(namespace(t), nil)
	r.Parent = &NamespaceWorkloads{}
	return r
}
