package check

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies"
)

// sarifSchemaFile is the OASIS SARIF 2.1.0 schema (errata 01), from
// oasis-tcs/sarif-spec, sarif-2.1/schema/sarif-schema-2.1.0.json.
const sarifSchemaFile = "testdata/check/sarif-schema-2.1.0.json"

func TestCheckSARIFIsValidAndHoldsEveryFindingWithItsLocation(t *testing.T) {
	out, _, err := runCheckIn(t, "", "-f", "testdata/check/mixed.yaml", "-f", "testdata/check/styles-indented.yaml", "-o", "sarif")
	if !errors.Is(err, cli.ErrFindings) {
		t.Fatalf("the denial in mixed.yaml must still exit 1, got %v", err)
	}

	schema := compileSARIFSchema(t)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("the output is not valid SARIF 2.1.0: %v", err)
	}
	// The schema does reject: a result without a message is not SARIF.
	broken, _ := jsonschema.UnmarshalJSON(strings.NewReader(strings.Replace(out, `"message"`, `"messages"`, 1)))
	if schema.Validate(broken) == nil {
		t.Fatal("the schema accepted a result without a message, so this test checks nothing")
	}

	var log report.SARIFLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("want one SARIF 2.1.0 run, got version %q and %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	ids := map[string]bool{}
	for _, r := range run.Tool.Driver.Rules {
		if ids[r.ID] {
			t.Errorf("rule %s listed twice", r.ID)
		}
		ids[r.ID] = true
		if r.Help.Text != policies.RuleHelp(policies.RuleID(r.ID)) || r.Help.Text == "" {
			t.Errorf("rule %s: help %q", r.ID, r.Help.Text)
		}
		if r.Name == "" || strings.Contains(r.Name, "-") || r.HelpURI != report.RulesDoc+"#"+r.ID {
			t.Errorf("rule %s: name %q, helpUri %q", r.ID, r.Name, r.HelpURI)
		}
		if r.ID == string(policies.RuleRecreateStrategy) && r.DefaultConfiguration.Level != "error" {
			t.Errorf("recreate-strategy denies here, so its level is error, got %q", r.DefaultConfiguration.Level)
		}
	}
	if len(ids) != len(policies.ReportedRules()) {
		t.Errorf("want one rule per rule id (%d), got %d", len(policies.ReportedRules()), len(ids))
	}

	if !strings.HasPrefix(run.Tool.Driver.FullName, "gracekeeper check ") || run.AutomationDetails.ID !=
		"gracekeeper/check/testdata/check/mixed.yaml,testdata/check/styles-indented.yaml/" {
		t.Errorf("fullName %q, automationDetails.id %q", run.Tool.Driver.FullName, run.AutomationDetails.ID)
	}
	fingerprints := map[string]bool{}
	for _, r := range run.Results {
		loc := r.Locations[0].PhysicalLocation.ArtifactLocation
		if loc.URIBaseID != "%SRCROOT%" || strings.HasPrefix(loc.URI, "/") {
			t.Errorf("want a relative URI against %%SRCROOT%%, got %+v", loc)
		}
		fp := r.PartialFingerprints["gracekeeperFinding/v1"]
		if fp == "" || fingerprints[fp] {
			t.Errorf("result %s: fingerprint %q missing or not unique", r.RuleID, fp)
		}
		fingerprints[fp] = true
	}
	if base := run.OriginalURIBaseIDs["%SRCROOT%"].URI; !strings.HasPrefix(base, "file:///") || !strings.HasSuffix(base, "/") {
		t.Errorf("%%SRCROOT%% must be the working directory as a file URI ending in /, got %q", base)
	}

	// One result per finding, at the finding's location, with its level.
	jsonOut, _, _ := runCheckIn(t, "", "-f", "testdata/check/mixed.yaml", "-f", "testdata/check/styles-indented.yaml", "-o", "json")
	var rep report.Check
	if err := json.Unmarshal([]byte(jsonOut), &rep); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range rep.Objects {
		for _, f := range o.Findings {
			want = append(want, strings.Join([]string{string(f.Rule), report.Level(f.Action), f.Location.String()}, " "))
		}
	}
	var got []string
	for _, r := range run.Results {
		loc := r.Locations[0].PhysicalLocation
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s has ruleIndex %d, which is rule %s", r.RuleID, r.RuleIndex, run.Tool.Driver.Rules[r.RuleIndex].ID)
		}
		got = append(got, strings.Join([]string{r.RuleID, r.Level,
			report.Location{File: loc.ArtifactLocation.URI, Line: loc.Region.StartLine, Column: loc.Region.StartColumn}.String()}, " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n%s\nwant one per finding:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(strings.Join(got, "\n"), "recreate-strategy error testdata/check/mixed.yaml:12:7") {
		t.Errorf("the denial must be an error at the strategy type's line, got:\n%s", strings.Join(got, "\n"))
	}
}

// compileSARIFSchema compiles the SARIF 2.1.0 schema, with its formats.
func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join(packageDir, sarifSchemaFile)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(path, schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// The SARIF of a repository with charts and kustomizations is valid too:
// findings on rendered objects name their template, without a region, and
// the warning of a --fix that cannot write templates is a notification.
func TestCheckSARIFOfARepositoryIsValid(t *testing.T) {
	schema := compileSARIFSchema(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "repos", "microservices"))); err != nil {
		t.Fatal(err)
	}
	out, _, code := runIn(t, dir, ".", "-o", "sarif", "--fix", "--exclude", "kubernetes-manifests", "--exclude", "kustomize")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("not valid SARIF 2.1.0: %v\n%s", err, out)
	}
	var log report.SARIFLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Results) == 0 {
		t.Fatal("want the chart's findings")
	}
	for _, r := range run.Results {
		loc := r.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != "helm-chart/templates/adservice.yaml" || loc.Region != nil {
			t.Errorf("a rendered finding must name its template without a region, got %+v", loc)
		}
	}
	n := run.Invocations[0].ToolExecutionNotifications
	if len(n) != 1 || n[0].Level != "warning" || !strings.Contains(n[0].Message.Text, "--fix cannot write patches into its templates") {
		t.Errorf("want the --fix warning as a notification, got %+v", n)
	}
}

func TestCheckSARIFReportsInputErrorsAsAFailedRun(t *testing.T) {
	out, _, err := runCheckIn(t, "apiVersion: v1\n---\nmetadata: {}\n", "-f", "-", "-o", "sarif")
	if err == nil || errors.Is(err, cli.ErrFindings) {
		t.Fatalf("bad input exits 2, got %v", err)
	}
	var log report.SARIFLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	inv := log.Runs[0].Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) == 0 ||
		!strings.Contains(inv.ToolExecutionNotifications[0].Message.Text, "missing apiVersion or kind") {
		t.Errorf("want a failed invocation that names the error, got %+v", inv)
	}
}

// A path is written as a URI reference: a space, "#" or "%" in it is
// escaped, so code scanning finds the file rather than a fragment of it.
func TestCheckSARIFWritesPathsAsURIReferences(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my app")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile("testdata/check/seed.yaml")
	path := filepath.Join(dir, "web#1 100%.yaml")
	if err := os.WriteFile(path, seed, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCheckIn(t, "", "-f", path, "-o", "sarif")
	if err != nil {
		t.Fatal(err)
	}
	var log report.SARIFLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Runs[0].Results) == 0 {
		t.Fatal("want the findings of seed.yaml")
	}
	for _, r := range log.Runs[0].Results {
		uri := r.Locations[0].PhysicalLocation.ArtifactLocation.URI
		u, err := url.Parse(uri)
		if err != nil || u.Path != filepath.ToSlash(path) || u.Fragment != "" || strings.Contains(uri, " ") {
			t.Fatalf("uri %q does not name %q", uri, path)
		}
	}
}
