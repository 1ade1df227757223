package cleanup

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
)

func TestDeleteWebhookConfigurations(t *testing.T) {
	existing := []runtime.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "gracekeeper"}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "gracekeeper"}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "other-webhook"}},
	}
	forbidden := func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}, "gracekeeper", errors.New("no RBAC"))
	}
	tests := []struct {
		name           string
		objects        []runtime.Object
		mutating       string
		validating     string
		reactor        k8stesting.ReactionFunc
		wantOutput     []string
		wantErr        string
		wantValidating []string
	}{
		{
			name:           "Both configurations are deleted and nothing else is touched.",
			objects:        existing,
			mutating:       "gracekeeper",
			validating:     "gracekeeper",
			wantOutput:     []string{"mutatingwebhookconfiguration gracekeeper deleted", "validatingwebhookconfiguration gracekeeper deleted"},
			wantValidating: []string{"other-webhook"},
		},
		{
			name:           "Configurations that are already gone count as cleaned up, so a retried hook succeeds.",
			mutating:       "gracekeeper",
			validating:     "gracekeeper",
			wantOutput:     []string{"mutatingwebhookconfiguration gracekeeper not found", "validatingwebhookconfiguration gracekeeper not found"},
			wantValidating: nil,
		},
		{
			name:           "An empty name skips that configuration.",
			objects:        existing,
			validating:     "gracekeeper",
			wantOutput:     []string{"validatingwebhookconfiguration gracekeeper deleted"},
			wantValidating: []string{"other-webhook"},
		},
		{
			name:           "A refused delete fails and names the configuration, and the other one is still deleted.",
			objects:        existing,
			mutating:       "gracekeeper",
			validating:     "gracekeeper",
			reactor:        forbidden,
			wantOutput:     []string{"validatingwebhookconfiguration gracekeeper deleted"},
			wantErr:        "delete mutatingwebhookconfiguration gracekeeper: mutatingwebhookconfigurations.admissionregistration.k8s.io \"gracekeeper\" is forbidden",
			wantValidating: []string{"other-webhook"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			if tt.reactor != nil {
				client.PrependReactor("delete", "mutatingwebhookconfigurations", tt.reactor)
			}
			var out bytes.Buffer
			err := deleteWebhookConfigurations(context.Background(), client, tt.mutating, tt.validating, &out)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			for _, want := range tt.wantOutput {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output %q does not contain %q", out.String(), want)
				}
			}
			left, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range left.Items {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantValidating, ",") {
				t.Errorf("validating configurations left = %v, want %v", names, tt.wantValidating)
			}
		})
	}
}

func TestCleanupRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"Without any configuration name there is nothing to do, which is a usage error.", nil, "give --mutating, --validating or both"},
		{"Positional arguments are refused.", []string{"--mutating=x", "extra"}, "unexpected arguments"},
		{"An unknown flag is refused.", []string{"--mutate=x"}, "unknown flag: --mutate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := Run(context.Background(), tt.args, &bytes.Buffer{}, &stderr)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want a usage error containing %q", err, tt.wantErr)
			}
		})
	}
}
