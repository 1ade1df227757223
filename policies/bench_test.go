package policies_test

import (
	"fmt"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// The engine alone, on the objects of the webhook's benchmarks, already
// decoded: what the rules cost, apart from JSON and HTTP.

func BenchmarkEvaluate(b *testing.B) {
	deployment, storedDeployment := bench.DeploymentUpdate()
	scale, storedScale := bench.ScaleUpdate()
	cases := []struct {
		name   string
		review *policies.Review
		// findings is how many the review must produce.
		findings int
	}{
		{"pod-create", &policies.Review{
			Operation: policies.Create, Kind: "Pod", Namespace: bench.Namespace, Name: "web-7d9f8b6c5d-x2x4k",
			Object: bench.AdmittedPod(bench.TypicalContainers), User: user(bench.ReplicaSetController),
		}, 1 + bench.TypicalContainers}, // a hook per container, and the grace period
		{"deployment-update", &policies.Review{
			Operation: policies.Update, Kind: "Deployment", Namespace: bench.Namespace, Name: bench.DeploymentName,
			Object: deployment, OldObject: storedDeployment, User: user(bench.Person),
		}, 1 + bench.TypicalContainers}, // said of the pods the Deployment will create
		{"scale-update", &policies.Review{
			Operation: policies.Update, Kind: "Deployment", SubResource: "scale", Namespace: bench.Namespace, Name: bench.DeploymentName,
			Object: scale, OldObject: storedScale, User: user(bench.Person),
		}, 0},
		{"pod-delete", &policies.Review{
			Operation: policies.Delete, Kind: "Pod", Namespace: bench.Namespace, Name: "web-7d9f8b6c5d-x2x4k",
			OldObject: bench.RunningPod(), DeleteOptions: bench.PodDeleteOptions(), User: user(bench.Person),
		}, 1}, // the warning that names kubectl rollout restart
	}
	engine := benchEngine(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchEvaluate(b, engine, c.review, c.findings) })
	}
}

// BenchmarkEvaluatePodContainers is the engine's growth curve.
func BenchmarkEvaluatePodContainers(b *testing.B) {
	engine := benchEngine(b)
	for _, n := range []int{1, 10, 50} {
		review := &policies.Review{
			Operation: policies.Create, Kind: "Pod", Namespace: bench.Namespace, Name: "web-7d9f8b6c5d-x2x4k",
			Object: bench.AdmittedPod(n), User: user(bench.ReplicaSetController),
		}
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) { benchEvaluate(b, engine, review, 1+n) })
	}
}

func benchEngine(b *testing.B) *policies.Engine {
	b.Helper()
	cfg, err := v1alpha1.Load("")
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policies.New(cfg, "v1.37.2")
	if err != nil {
		b.Fatal(err)
	}
	return engine
}

// benchEvaluate checks that the review gets its findings and is allowed,
// then measures evaluating and deciding it in enforce mode, as the mutating
// webhook does.
func benchEvaluate(b *testing.B, engine *policies.Engine, r *policies.Review, findings int) {
	mutate := admission.Decide(admission.Mutating, policies.ModeEnforce, r, engine.Evaluate(r))
	validate := admission.Decide(admission.Validating, policies.ModeEnforce, r, engine.Evaluate(r))
	if !mutate.Allowed || !validate.Allowed || len(mutate.Reported)+len(validate.Reported) != findings {
		b.Fatalf("decisions: allowed %t and %t with findings %+v and %+v, want allowed with %d in all",
			mutate.Allowed, validate.Allowed, mutate.Reported, validate.Reported, findings)
	}
	b.ReportAllocs()
	stop := bench.MeasureCPU(b)
	for b.Loop() {
		admission.Decide(admission.Mutating, policies.ModeEnforce, r, engine.Evaluate(r))
	}
	stop()
}

func user(u authenticationv1.UserInfo) policies.UserInfo {
	return policies.UserInfo{Username: u.Username, Groups: u.Groups}
}
