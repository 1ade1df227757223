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
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
)

// The field-case fixtures of the policy engine (policies/testdata/rules/*/*field*.yaml):
// inputs from public bug reports, each of which `check`, `audit` and the
// webhook must judge alike.
const fieldCaseFixtures = "../../policies/testdata/rules/*/*field*.yaml"

// fieldCase is a fixture as the three paths need it.
type fieldCase struct {
	name   string
	object []byte // JSON, namespace "shop"
	kind   string
	// config is the fixture's configuration with its API server version, so
	// that every path picks the same preStop action.
	config string
}

func loadFieldCases(t *testing.T) []fieldCase {
	t.Helper()
	paths, err := filepath.Glob(fieldCaseFixtures)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no field-case fixtures at %s (err %v)", fieldCaseFixtures, err)
	}
	var cases []fieldCase
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden.yaml") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Kind          string          `json:"kind"`
			ServerVersion string          `json:"serverVersion"`
			Config        json.RawMessage `json:"config"`
			Object        json.RawMessage `json:"object"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		object, version, config := data, "v1.37.2", map[string]any{}
		if doc.Kind == "Review" {
			object = doc.Object
			if doc.ServerVersion != "" {
				version = doc.ServerVersion
			}
			if len(doc.Config) > 0 {
				if err := json.Unmarshal(doc.Config, &config); err != nil {
					t.Fatalf("%s: config: %v", path, err)
				}
			}
		}
		var obj map[string]any
		if err := yaml.Unmarshal(object, &obj); err != nil {
			t.Fatalf("%s: object: %v", path, err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		meta["namespace"] = "shop"
		if meta["name"] == nil {
			meta["name"] = strings.TrimSuffix(filepath.Base(path), ".yaml") // a Pod by generateName
		}
		config["serverVersion"] = version
		objectJSON, _ := json.Marshal(obj)
		configYAML, _ := yaml.Marshal(config)
		cases = append(cases, fieldCase{name: strings.TrimPrefix(path, "../../policies/testdata/rules/"),
			object: objectJSON, kind: obj["kind"].(string), config: string(configYAML)})
	}
	return cases
}

// TestFieldCasesAgreeAcrossCheckAuditAndTheWebhook runs every field case
// through `gracekeeper check`, `gracekeeper audit` (against a fake cluster
// holding the object) and `gracekeeper serve` (an AdmissionReview posted to
// both webhook paths in audit mode, which reports every finding), and wants
// the same findings from each. Pods are scanned by audit for prestop-hook only.
func TestFieldCasesAgreeAcrossCheckAuditAndTheWebhook(t *testing.T) {
	servers := map[string]*testServe{}
	for _, fc := range loadFieldCases(t) {
		t.Run(fc.name, func(t *testing.T) {
			dir := t.TempDir()
			configPath := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(configPath, []byte(fc.config), 0o600); err != nil {
				t.Fatal(err)
			}

			manifestPath := filepath.Join(dir, "manifest.yaml")
			if err := os.WriteFile(manifestPath, fc.object, 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if err := runCheck(context.Background(), []string{"-f", manifestPath, "-o", "json", "--config", configPath}, &out, &errOut); err != nil && err != errFindings {
				t.Fatalf("check: %v\n%s", err, errOut.String())
			}
			var checked checkReport
			if err := json.Unmarshal(out.Bytes(), &checked); err != nil || len(checked.Objects) != 1 {
				t.Fatalf("check -o json = %s (%v), want one object", out.String(), err)
			}
			fromCheck := findingKeys(checked.Objects[0].Findings)

			var typeMeta metav1.TypeMeta
			if err := json.Unmarshal(fc.object, &typeMeta); err != nil {
				t.Fatal(err)
			}
			obj, err := policies.Decode(typeMeta.GroupVersionKind(), fc.object)
			if err != nil {
				t.Fatal(err)
			}
			cluster := newTestCluster(namespaceObj("shop", "audit"), obj)
			stdout, stderr, err := cluster.audit(t, "-A", "-o", "json", "--config", configPath)
			if err != nil && err != errFindings {
				t.Fatalf("audit: %v\n%s", err, stderr)
			}
			var report auditReport
			if err := json.Unmarshal([]byte(stdout), &report); err != nil {
				t.Fatalf("audit -o json: %v\n%s", err, stdout)
			}
			var audited []policies.Finding
			for _, ns := range report.Namespaces {
				for _, w := range ns.Workloads {
					audited = append(audited, w.Findings...)
				}
				for _, p := range ns.Pods {
					audited = append(audited, p.Findings...)
				}
			}
			fromAudit := findingKeys(audited)

			srv := servers[fc.config]
			if srv == nil {
				srv = startServe(t, "--config", configPath, "--kubeconfig", filepath.Join(dir, "no-kubeconfig"))
				servers[fc.config] = srv
			}
			fromWebhook := srv.findings(t, typeMeta.GroupVersionKind(), fc.object)

			wantAudit := fromCheck
			if fc.kind == "Pod" {
				wantAudit = slices.DeleteFunc(slices.Clone(fromCheck), func(k string) bool {
					return !strings.HasPrefix(k, string(policies.RulePreStopHook)+" ")
				})
			}
			if !slices.Equal(fromAudit, wantAudit) {
				t.Errorf("audit and check disagree\naudit: %q\ncheck: %q", fromAudit, wantAudit)
			}
			if !slices.Equal(fromWebhook, fromCheck) {
				t.Errorf("the webhook and check disagree\nwebhook: %q\ncheck:   %q", fromWebhook, fromCheck)
			}
			if len(fromCheck) == 0 {
				t.Error("a field case with no finding at all proves nothing here")
			}
		})
	}
	for _, srv := range servers {
		srv.stop(t)
	}
}

// findingKeys are findings as comparable, sorted strings: rule, action,
// message and patch (as normalized JSON).
func findingKeys(findings []policies.Finding) []string {
	keys := make([]string, 0, len(findings))
	for _, f := range findings {
		patch, _ := json.Marshal(f.Patch)
		var normal any
		_ = json.Unmarshal(patch, &normal)
		patch, _ = json.Marshal(normal)
		keys = append(keys, fmt.Sprintf("%s %s %s %s", f.Rule, f.Action, f.Message, patch))
	}
	slices.Sort(keys)
	return keys
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
	return findingKeys(findings)
}
