package policies

import (
	"fmt"
	"strings"
	"testing"
)

// A per-container finding names its container, and says the same of several
// containers in Containers, so that warnings can be aggregated without
// parsing the sentences: the list goes at the first %s, before any text of
// the user's (a hook's command may hold a %s too), and the sentence agrees.
func TestPerContainerFindingsSayTheirContainer(t *testing.T) {
	d := deployment(t, `
spec:
  template:
    spec:
      containers:
      - {name: app, image: shop:2}
      - {name: proxy, image: envoy:1.36, lifecycle: {preStop: {tcpSocket: {port: 8080}}}}
      - {name: drain, image: shop:2, lifecycle: {preStop: {exec: {command: [/app/drain%s.sh]}}}}
`)
	const list = `2 containers ("a", "b")`
	want := map[RuleID][]string{
		RulePreStopHook: {
			`add preStop sleep 5s to 2 containers ("a", "b") in the pods of deployment/nginx`,
			`replace the preStop tcpSocket of 2 containers ("a", "b") with sleep 5s (the kubelet never runs a tcpSocket preStop hook) in the pods of deployment/nginx`,
		},
		RuleTerminationGracePeriod: {
			`cannot read how long the preStop hooks of 2 containers ("a", "b") (exec "/app/drain%s.sh") delay SIGTERM, so they count as 0s; make the grace period cover them`,
		},
		RuleReadinessProbe: {
			`2 containers ("a", "b") have no readinessProbe, so a rollout cannot wait for them to serve`,
			`2 containers ("a", "b") have no readinessProbe, so a rollout cannot wait for them to serve`,
			`2 containers ("a", "b") have no readinessProbe, so a rollout cannot wait for them to serve`,
		},
	}
	got := map[RuleID][]string{}
	for _, f := range defaultEngine(t).Evaluate(create(d)) {
		if f.Container == "" {
			if f.Containers != "" {
				t.Errorf("%s: Containers %q without a Container", f.Rule, f.Containers)
			}
			continue
		}
		if !strings.Contains(f.Message, fmt.Sprintf("container %q", f.Container)) {
			t.Errorf("%s: message %q does not name container %q", f.Rule, f.Message, f.Container)
		}
		got[f.Rule] = append(got[f.Rule], strings.Replace(f.Containers, "%s", list, 1))
	}
	for id, w := range want {
		if g := got[id]; strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s: for several containers\ngot:  %q\nwant: %q", id, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rules with per-container findings: got %d, want %d", len(got), len(want))
	}
}
