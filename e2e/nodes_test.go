//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
)

// N02 live (../shared/field-cases/turn3/N02-daemonset-nodeselector-live.sh):
// "scaling a DaemonSet to zero" by a nodeSelector no node has takes its pods
// off every node at once. One request shows the narrowing, not which nodes
// carry the label, so gracekeeper warns and keeps the user's choice.
func TestADaemonSetNarrowedByANodeSelectorIsWarnedAbout(t *testing.T) {
	ns := namespace(t, "ds-narrow", "enforce")
	mustKubectlIn(t, `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"node-agent"},"spec":{"selector":{"matchLabels":{"app":"node-agent"}},
 "template":{"metadata":{"labels":{"app":"node-agent"}},"spec":{"containers":[{"name":"agent","image":"registry.example/agent:2.1",
 "ports":[{"containerPort":9100}],"readinessProbe":{"httpGet":{"path":"/ready","port":9100}}}]}}}}`, "-n", ns, "apply", "-f", "-")
	// The warning reads the DaemonSet's status (its scheduled pods), which
	// its controller writes after the create.
	rolloutStatus(t, ns, "daemonset/node-agent")

	r := mustKubectl(t, "-n", ns, "patch", "daemonset/node-agent", "-p", `{"spec":{"template":{"spec":{"nodeSelector":{"non-existing":"true"}}}}}`)
	warned(t, r, policies.ModeEnforce, policies.RuleScaleDown)
	assertContains(t, "the warning", strings.Join(gracekeeperWarnings(r), "\n"), "non-existing")
	stored := mustKubectl(t, "-n", ns, "get", "daemonset/node-agent", "-o", "jsonpath={.spec.template.spec.nodeSelector}")
	assertContains(t, "the stored nodeSelector (the user's choice is kept)", stored.stdout, `"non-existing":"true"`)

	// A change that keeps the nodes (an image) is not warned about.
	r = mustKubectl(t, "-n", ns, "set", "image", "daemonset/node-agent", "agent=registry.example/agent:2.2")
	if rules := namedRules(strings.Join(gracekeeperWarnings(r), "\n")); strings.Contains(strings.Join(rules, ","), string(policies.RuleScaleDown)) {
		t.Errorf("set image warned %q, want no scale-down warning", rules)
	}
}

// N23 live (../shared/field-cases/turn3/N23-delete-node-without-drain.sh):
// "kubectl delete node" without a drain. A Node is cluster-scoped, so a rule
// on it would receive every node delete in the cluster, whatever namespaces
// opted in, and the pod garbage collector that removes the node's pods is a
// system actor. gracekeeper does not guard it; docs/install.md says so ("What
// one request at a time cannot see") and names kubectl drain. This test holds
// that documented answer: the delete goes through without a word from
// gracekeeper.
func TestDeletingANodeIsDocumentedNotGuarded(t *testing.T) {
	gpuNode(t, "n23-node")
	r := mustKubectl(t, "delete", "node", "n23-node", "--wait=false")
	if w := gracekeeperWarnings(r); len(w) != 0 {
		t.Errorf("gracekeeper answered a Node DELETE, which docs/install.md says it never sees: %q", w)
	}
	install := readFile(t, "../docs/install.md")
	assertContains(t, "docs/install.md", install, "kubectl delete node")
}
