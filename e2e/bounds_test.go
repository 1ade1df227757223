//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// heavy is a container-heavy object of e2e/bench in namespace ns, each
// container with an image, so that the API server's validation lets it
// through to the validating webhooks.
func heavy(object []byte, ns string) string {
	s := strings.Replace(string(object), `"namespace":"`+policytest.Namespace+`"`, `"namespace":"`+ns+`"`, 1)
	s = strings.ReplaceAll(s, `[{"name":"`, `[{"image":"nginx:1.27","name":"`)
	return strings.ReplaceAll(s, `},{"name":"`, `},{"image":"nginx:1.27","name":"`)
}

// TestContainerHeavyObjectsAreAnsweredAsTheFailurePolicyWould: a pod spec of
// 16,000 containers passes the generated matchConditions without walking
// them, and gracekeeper answers it unjudged, at once: the enforce validating
// webhook denies a Deployment, the mutating webhook lets a Pod through
// unchanged, with a warning. Before the bounds, the matchConditions alone
// took 15 s of CEL on such a Deployment, and gracekeeper 25 s on the Pod.
func TestContainerHeavyObjectsAreAnsweredAsTheFailurePolicyWould(t *testing.T) {
	ns := namespace(t, "heavy", "enforce")
	const containers = 16_000

	r := kubectlIn(t, heavy(policytest.ContainerHeavyDeployment(containers), ns), "-n", ns, "create", "--dry-run=server", "-f", "-")
	if r.err == nil {
		t.Fatalf("a Deployment of %d containers was created in an enforce namespace: %s", containers, r)
	}
	assertContains(t, "the denial", r.stderr, "denied unchecked, as failurePolicy Fail would", "deployment/heavy has 16000 containers, more than the 1000")

	r = mustKubectlIn(t, heavy(policytest.ContainerHeavyPod(containers), ns), "-n", ns, "create", "--dry-run=server", "-o", "json", "-f", "-")
	// The API server sends the Pod after its defaults (a termination
	// message path, a pull policy and the token's mount in every container):
	// about 7 MB, over the body limit, answered from its first bytes.
	assertContains(t, "the warning", strings.Join(r.warnings(), "\n"), "gracekeeper not mutated, no preStop hook or grace period added: pod/heavy has ", " bytes, more than the 6291456")
	if strings.Contains(r.stdout, "preStop") {
		t.Errorf("the Pod past the bound was mutated anyway")
	}

	// At the bound, the Pod is judged: every container gets its hook.
	r = mustKubectlIn(t, heavy(policytest.ContainerHeavyPod(policies.MaxContainers), ns), "-n", ns, "create", "--dry-run=server", "-o", "json", "-f", "-")
	if got := strings.Count(r.stdout, `"preStop"`); got != policies.MaxContainers {
		t.Errorf("%d containers got a preStop hook, want all %d", got, policies.MaxContainers)
	}
}
