package policies

import (
	"fmt"
)

// The bounds of one review's answer. Findings are per container, and the
// API server accepts a Pod of up to 3 MiB: 178,000 containers of 17 bytes
// each. Judged one by one they made a 23.7 MB answer and 348 MiB of memory;
// a pod that large is not one a person wrote, and gracekeeper answers it as
// its failurePolicy would (see admission.DecideLimit) rather than judge it.
const (
	// MaxContainers is the most containers (regular, init and ephemeral) of
	// one pod spec, a Pod's or a workload's template, that a webhook review judges.
	MaxContainers = 1000
	// MaxFindings is the most findings one webhook review may report: three
	// per container (preStop hook, readiness probe, one spare), with room for the
	// object-level rules.
	MaxFindings = 3*MaxContainers + 64
	// MaxPatchOps is the most JSON patch operations one mutating answer carries:
	// a hook per container and the object-level patches.
	MaxPatchOps = MaxContainers + 64
)

// LimitError says that a review is past one of the bounds above, so
// gracekeeper does not judge it.
type LimitError struct {
	// Object is "deployment/web", as messages name objects.
	Object string
	// What is "containers", "findings", "patch operations" or "bytes" (a
	// review body larger than the webhook reads).
	What string
	// Count is how many the review has; Max the bound.
	Count, Max int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s has %d %s, more than the %d gracekeeper judges in one review", e.Object, e.Count, e.What, e.Max)
}

// Metric is the limit's label in gracekeeper_review_limits_total.
func (e *LimitError) Metric() string {
	switch e.What {
	case "patch operations":
		return "patch-operations"
	}
	return e.What
}

// TooManyContainers is the LimitError of a kind's object of this name whose
// pod spec has count containers, nil within MaxContainers. The webhook counts
// them before it decodes an object, the engine after.
func TooManyContainers(kind, name string, count int) *LimitError {
	if count <= MaxContainers {
		return nil
	}
	return &LimitError{Object: objectRef(kind, name), What: "containers", Count: count, Max: MaxContainers}
}

// containersOf counts the containers of the pod spec a review's pod rules
// would judge: 0 when there is none.
func containersOf(r *Review) int {
	ev := &evaluation{review: r}
	t := ev.findPodTarget()
	if t == nil {
		return 0
	}
	return len(t.spec.Containers) + len(t.spec.InitContainers) + len(t.spec.EphemeralContainers)
}

// reviewObject names the reviewed object as messages do: "deployment/web".
func reviewObject(r *Review) string {
	return (&evaluation{review: r}).ref()
}
