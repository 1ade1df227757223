package admission

import (
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
)

// countContainers skips its decode only for objects that cannot hold more
// containers than the bound: null elements count as containers (they decode
// into empty ones), and take no '{'.
func TestCountContainersCountsNullContainersPastTheBound(t *testing.T) {
	n := policies.MaxContainers + 1
	nulls := `{"spec":{"containers":[` + strings.TrimSuffix(strings.Repeat("null,", n), ",") + `]}}`
	if got := countContainers([]byte(nulls)); got != n {
		t.Errorf("countContainers(%d null containers) = %d, want %d", n, got, n)
	}
	objects := `{"spec":{"template":{"spec":{"initContainers":[` + strings.TrimSuffix(strings.Repeat(`{"name":"a"},`, n), ",") + `]}}}}`
	if got := countContainers([]byte(objects)); got != n {
		t.Errorf("countContainers(%d init containers in a template) = %d, want %d", n, got, n)
	}
	if got := countContainers([]byte(`{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}`)); got != 0 {
		t.Errorf("countContainers(2 containers) = %d, want 0: far below the bound, it is not decoded", got)
	}
}
