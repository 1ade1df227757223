package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// TestFieldCasesAgreeAcrossCheckAndTheWebhook runs every field case through
// `gracekeeper check` and `gracekeeper serve` (an AdmissionReview posted as
// the chart's configurations send it, in audit mode, which reports every
// finding) and wants from each the findings the fixture's golden pins.
// clusteraudit's TestFieldCasesAgreeWithAudit holds `gracekeeper audit` to the
// same goldens.
func TestFieldCasesAgreeAcrossCheckAndTheWebhook(t *testing.T) {
	cases, err := policytest.FieldCases(filepath.Join("..", "..", "policies", "testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	// One server per configuration, started by the test itself, since the
	// subtests share them; --log-level debug logs each finding's patch.
	dir := t.TempDir()
	servers := map[string]*testServe{}
	for i, fc := range cases {
		if servers[fc.Config] != nil {
			continue
		}
		configPath := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", i))
		if err := os.WriteFile(configPath, []byte(fc.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		servers[fc.Config] = startServe(t, "--config", configPath, "--log-level", "debug",
			"--kubeconfig", filepath.Join(dir, "no-kubeconfig"))
	}
	for _, fc := range cases {
		t.Run(fc.Name, func(t *testing.T) {
			want := policytest.FindingKeys(fc.Findings)
			if len(want) == 0 {
				t.Fatal("a field case with no finding at all proves nothing here")
			}
			dir := t.TempDir()
			configPath := filepath.Join(dir, "config.yaml")
			manifestPath := filepath.Join(dir, "manifest.yaml")
			if err := os.WriteFile(configPath, []byte(fc.Config), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(manifestPath, fc.Object, 0o600); err != nil {
				t.Fatal(err)
			}

			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"check", "-f", manifestPath, "-o", "json", "--config", configPath}, &out, &errOut); code > 1 {
				t.Fatalf("check: exit %d\n%s", code, errOut.String())
			}
			var checked report.Check
			if err := json.Unmarshal(out.Bytes(), &checked); err != nil || len(checked.Objects) != 1 {
				t.Fatalf("check -o json = %s (%v), want one object", out.String(), err)
			}
			var fromCheck []policies.Finding
			for _, f := range checked.Objects[0].Findings {
				fromCheck = append(fromCheck, f.Finding)
			}
			if got := policytest.FindingKeys(fromCheck); !slices.Equal(got, want) {
				t.Errorf("check and the golden disagree\ncheck:  %q\ngolden: %q", got, want)
			}

			if got := servers[fc.Config].findings(t, fc.GVK, fc.Object); !slices.Equal(got, want) {
				t.Errorf("the webhook and the golden disagree\nwebhook: %q\ngolden:  %q", got, want)
			}
		})
	}
	for _, srv := range servers {
		srv.stop(t)
	}
}

// findings posts a CREATE by an ordinary user to /mutate/audit and (but for
// a Pod) /validate/audit, as the chart's configurations do, and returns the findings the webhook logged for it.
func (s *testServe) findings(t *testing.T, gvk schema.GroupVersionKind, object []byte) []string {
	t.Helper()
	uid := types.UID(fmt.Sprintf("agreement-%d", time.Now().UnixNano()))
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(object, &meta); err != nil {
		t.Fatal(err)
	}
	kind, ok := policies.KindOf(gvk)
	if !ok {
		t.Fatalf("the engine does not read %s", gvk)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind(gvk),
			Resource:  metav1.GroupVersionResource(gvk.GroupVersion().WithResource(kind.Resource)),
			Namespace: "shop", Name: meta.Metadata.Name, Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{Username: "alice@example.com", Groups: []string{"system:authenticated"}},
			Object:   runtime.RawExtension{Raw: object},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/mutate/audit", "/validate/audit"}
	if gvk.Kind == "Pod" {
		paths = paths[:1] // the validating configuration sends no Pod CREATE
	}
	for _, path := range paths {
		resp, err := s.client.Post(s.url+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s = %d %s", path, resp.StatusCode, answer)
		}
	}
	var findings []policies.Finding
	scanner := bufio.NewScanner(strings.NewReader(s.logs.String()))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var line struct {
			Msg     string          `json:"msg"`
			UID     types.UID       `json:"uid"`
			Rule    policies.RuleID `json:"rule"`
			Action  policies.Action `json:"action"`
			Message string          `json:"message"`
			Patch   json.RawMessage `json:"patch"`
		}
		if json.Unmarshal(scanner.Bytes(), &line) == nil && line.Msg == "finding" && line.UID == uid {
			var patch []policies.PatchOp
			if err := json.Unmarshal(line.Patch, &patch); err != nil {
				t.Fatalf("logged patch %s: %v", line.Patch, err)
			}
			if len(patch) == 0 {
				patch = nil
			}
			findings = append(findings, policies.Finding{Rule: line.Rule, Action: line.Action, Message: line.Message, Patch: patch})
		}
	}
	return policytest.FindingKeys(findings)
}
