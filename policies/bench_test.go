package policies_test

import (
	"fmt"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// The engine alone, on the objects of the webhook's benchmarks, already
// decoded: what the rules cost, apart from JSON and HTTP.

func BenchmarkEvaluate(b *testing.B) {
	deployment, storedDeployment := policytest.DeploymentUpdate()
	scale, storedScale := policytest.ScaleUpdate()
	cases := []struct {
		name   string
		review *policies.Review
		// findings is how many the review must produce.
		findings int
	}{
		{"pod-create", &policies.Review{
			Operation: policies.Create, Kind: "Pod", Namespace: policytest.Namespace, Name: "web-7d9f8b6c5d-x2x4k",
			Object: policytest.AdmittedPod(policytest.TypicalContainers), User: user(policytest.ReplicaSetController),
		}, 1 + policytest.TypicalContainers}, // a hook per container, and the grace period
		{"deployment-update", &policies.Review{
			Operation: policies.Update, Kind: "Deployment", Namespace: policytest.Namespace, Name: policytest.DeploymentName,
			Object: deployment, OldObject: storedDeployment, User: user(policytest.Person),
		}, 2 + policytest.TypicalContainers}, // said of the pods the Deployment will create, and its change-cause
		{"scale-update", &policies.Review{
			Operation: policies.Update, Kind: "Deployment", SubResource: "scale", Namespace: policytest.Namespace, Name: policytest.DeploymentName,
			Object: scale, OldObject: storedScale, User: user(policytest.Person),
		}, 0},
		{"pod-delete", &policies.Review{
			Operation: policies.Delete, Kind: "Pod", Namespace: policytest.Namespace, Name: "web-7d9f8b6c5d-x2x4k",
			OldObject: policytest.RunningPod(), DeleteOptions: policytest.PodDeleteOptions(), User: user(policytest.Person),
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
			Operation: policies.Create, Kind: "Pod", Namespace: policytest.Namespace, Name: "web-7d9f8b6c5d-x2x4k",
			Object: policytest.AdmittedPod(n), User: user(policytest.ReplicaSetController),
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
	stop := policytest.MeasureCPU(b)
	for b.Loop() {
		admission.Decide(admission.Mutating, policies.ModeEnforce, r, engine.Evaluate(r))
	}
	stop()
}

func user(u authenticationv1.UserInfo) policies.UserInfo {
	return policies.UserInfo{Username: u.Username, Groups: u.Groups}
}
