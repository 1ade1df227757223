package bench

import (
	"context"
	"fmt"
	"net/http"

	kwhhttp "github.com/slok/kubewebhook/v2/pkg/http"
	"github.com/slok/kubewebhook/v2/pkg/model"
	"github.com/slok/kubewebhook/v2/pkg/webhook/mutating"
	"github.com/slok/kubewebhook/v2/pkg/webhook/validating"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NoopMutating is the floor of a mutating review: kubewebhook's own mutating
// webhook with a mutator that changes nothing. kubewebhook still decodes the
// review and the object, and diffs the object against itself for the patch.
// It serves every kind: without a static object type, kubewebhook infers
// the type from the object.
func NoopMutating() (http.Handler, error) {
	wh, err := mutating.NewWebhook(mutating.WebhookConfig{
		ID: "noop-mutating",
		Mutator: mutating.MutatorFunc(func(context.Context, *model.AdmissionReview, metav1.Object) (*mutating.MutatorResult, error) {
			return &mutating.MutatorResult{}, nil
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("no-op mutating webhook: %w", err)
	}
	return kwhhttp.HandlerFor(kwhhttp.HandlerConfig{Webhook: wh})
}

// NoopValidating is the floor of a validating review: kubewebhook's own
// validating webhook with a validator that allows everything.
func NoopValidating() (http.Handler, error) {
	wh, err := validating.NewWebhook(validating.WebhookConfig{
		ID: "noop-validating",
		Validator: validating.ValidatorFunc(func(context.Context, *model.AdmissionReview, metav1.Object) (*validating.ValidatorResult, error) {
			return &validating.ValidatorResult{Valid: true}, nil
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("no-op validating webhook: %w", err)
	}
	return kwhhttp.HandlerFor(kwhhttp.HandlerConfig{Webhook: wh})
}

// NoopMux serves the no-op webhooks on gracekeeper's paths, so that a load
// test sends the same requests to both, and GET /readyz.
func NoopMux() (*http.ServeMux, error) {
	mutate, err := NoopMutating()
	if err != nil {
		return nil, err
	}
	validate, err := NoopValidating()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, path := range []string{"/mutate/enforce", "/mutate/audit"} {
		mux.Handle("POST "+path, mutate)
	}
	for _, path := range []string{"/validate/enforce", "/validate/audit", "/validate/namespaces"} {
		mux.Handle("POST "+path, validate)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux, nil
}
