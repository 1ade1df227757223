package v1alpha1

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// goldenDefaults records every default a user gets without a file.
const goldenDefaults = "testdata/defaults.yaml"

// TestDefaultsGolden pins every default a user gets without a file.
func TestDefaultsGolden(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	policytest.Golden(t, goldenDefaults, got)

	// The golden file is itself a valid configuration that changes nothing.
	again, err := Parse(got)
	if err != nil {
		t.Fatalf("parse %s: %v", goldenDefaults, err)
	}
	if !reflect.DeepEqual(again, c) {
		t.Errorf("parsing %s gives %+v, want the defaults %+v", goldenDefaults, again, c)
	}
}

func TestParseDefaultsWhatTheFileLeavesOut(t *testing.T) {
	defaults, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		config string
		want   func(c *Configuration)
	}{
		{
			name:   "An empty file means every default.",
			config: "",
			want:   func(*Configuration) {},
		},
		{
			name:   "A file with only comments means every default.",
			config: "# nothing to change\n",
			want:   func(*Configuration) {},
		},
		{
			name: "Set fields are kept and the rest of their section is defaulted.",
			config: `
apiVersion: gracekeeper.io/v1alpha1
kind: Configuration
preStop:
  sleepSeconds: 10
rollingUpdate:
  maxSurge: 1
exemptions:
- rules: [scale-to-zero]
  serviceAccounts: [keda/keda-operator]
`,
			want: func(c *Configuration) {
				ten, surge := int32(10), intstr.FromInt32(1)
				c.PreStop.SleepSeconds = &ten
				c.RollingUpdate.MaxSurge = &surge
				c.Exemptions = []Exemption{{Rules: []string{"scale-to-zero"}, ServiceAccounts: []string{"keda/keda-operator"}}}
			},
		},
		{
			name:   "JSON is YAML, and is accepted.",
			config: `{"recreate": "convert", "podDelete": "deny", "serverVersion": "v1.32.4"}`,
			want: func(c *Configuration) {
				c.Recreate, c.PodDelete, c.ServerVersion = RecreateConvert, GuardDeny, "v1.32.4"
			},
		},
		{
			name:   "changeCause: off, unquoted (a YAML 1.1 boolean), switches change-cause off.",
			config: "changeCause: off",
			want:   func(c *Configuration) { c.ChangeCause = ChangeCauseOff },
		},
		{
			name:   `changeCause: "off", quoted, is the same.`,
			config: `changeCause: "off"`,
			want:   func(c *Configuration) { c.ChangeCause = ChangeCauseOff },
		},
		{
			name:   "An explicitly empty skipOwnerKinds stays empty: no owner kind is skipped.",
			config: "preStop: {skipOwnerKinds: []}",
			want:   func(c *Configuration) { c.PreStop.SkipOwnerKinds = []string{} },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			want, err := Parse(nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.want(want)
			if !reflect.DeepEqual(got, want) {
				g, _ := yaml.Marshal(got)
				w, _ := yaml.Marshal(want)
				t.Errorf("got:\n%s\nwant:\n%s", g, w)
			}
		})
	}
	if *defaults.PreStop.SleepSeconds != 5 || *defaults.ShutdownSeconds != 25 {
		t.Errorf("the design's defaults are a 5s sleep and 25s shutdown, got %ds and %ds",
			*defaults.PreStop.SleepSeconds, *defaults.ShutdownSeconds)
	}
}

func TestParseTakesOneDocumentWithSeparatorsAndComments(t *testing.T) {
	c, err := Parse([]byte("# gracekeeper\n---\napiVersion: gracekeeper.io/v1alpha1\nkind: Configuration\nshutdownSeconds: 40\n---\n# nothing else\n"))
	if err != nil || c.ShutdownSeconds == nil || *c.ShutdownSeconds != 40 {
		t.Errorf("Parse = %+v, %v; want the one document's shutdownSeconds 40", c, err)
	}
}

func TestParseRejectsWhatItCannotDecode(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{
			name:   "An unknown field is an error naming its path.",
			config: "preStop:\n  foo: 1\n",
			want:   []string{`unknown field "preStop.foo"`},
		},
		{
			name:   "An unknown field in a list item names its index.",
			config: "exemptions: [{rules: [all], users: [alice], user: bob}]",
			want:   []string{`unknown field "exemptions[0].user"`},
		},
		{
			name:   "Every unknown field is reported.",
			config: "sleepSeconds: 5\nrollingUpdate: {maxUnavailable: 0}",
			want:   []string{`unknown field "sleepSeconds"`, `unknown field "rollingUpdate.maxUnavailable"`},
		},
		{
			name:   "A duplicate field is an error naming the key and its line.",
			config: "preStop:\n  sleepSeconds: 5\n  sleepSeconds: 10\n",
			want:   []string{`line 3: key "sleepSeconds" already set in map`},
		},
		{
			name:   "A duplicate field in JSON is an error too.",
			config: `{"shutdownSeconds": 10, "shutdownSeconds": 20}`,
			want:   []string{`key "shutdownSeconds" already set in map`},
		},
		{
			name:   "Text that is not YAML says so.",
			config: "preStop: {sleepSeconds: 5",
			want:   []string{"not valid YAML"},
		},
		{
			name:   "A tab-indented file says it is not YAML.",
			config: "preStop:\n\tsleepSeconds: 5",
			want:   []string{"not valid YAML"},
		},
		{
			name:   "A list instead of a mapping is an error.",
			config: "- preStop\n- rollingUpdate\n",
			want:   []string{"cannot unmarshal array"},
		},
		{
			name:   "Several YAML documents are an error, not the first silently used.",
			config: "apiVersion: gracekeeper.io/v1alpha1\nkind: Configuration\n---\napiVersion: gracekeeper.io/v1alpha1\nkind: Configuration\nshutdownSeconds: 40\n",
			want:   []string{"the file holds 2 YAML documents", "merge them into one document"},
		},
		{
			name:   "A value of the wrong type names the field.",
			config: "shutdownSeconds: thirty",
			want:   []string{"shutdownSeconds", "int32"},
		},
		{
			name:   "A switch that is no string names the field.",
			config: "readinessProbe: 0\nshutdownSeconds: 30",
			want:   []string{"readinessProbe: want a string such as off, got 0"},
		},
		{
			name:   "An action that is no string names the field within its parent.",
			config: "shutdownSeconds: 30\npreStop: {sleepSeconds: 5, action: [sleep]}",
			want:   []string{`preStop.action: want a string such as off, got ["sleep"]`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.config))
			if err == nil {
				t.Fatalf("parsed %q into %+v, want an error", tc.config, c)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestValidateReportsEveryErrorWithItsPath(t *testing.T) {
	const config = `
apiVersion: gracekeeper.io/v1beta1
kind: Config
preStop: {sleepSeconds: -1, action: nap, skipOwnerKinds: ["", batch/Job]}
shutdownSeconds: 4000
sidecarShutdownSeconds: -5
rollingUpdate: {action: convert, maxSurge: 0}
recreate: allow
revisionHistory: {minimum: 101, action: raise}
workloadDelete: block
podDelete: patch
serverVersion: latest
exemptions:
- {rules: [workload-delet, all], serviceAccounts: [argocd, Argo/cd, argocd/]}
- {rules: []}
`
	_, err := Parse([]byte(config))
	if err == nil {
		t.Fatal("an invalid configuration parsed")
	}
	for _, want := range []string{
		`apiVersion: Unsupported value: "gracekeeper.io/v1beta1": supported values: "gracekeeper.io/v1alpha1"`,
		`kind: Unsupported value: "Config": supported values: "Configuration"`,
		`preStop.sleepSeconds: Invalid value: -1: must be between 0 and 3600`,
		`preStop.action: Unsupported value: "nap": supported values: "auto", "sleep", "exec"`,
		`preStop.skipOwnerKinds[0]: Invalid value: "": must be a kind such as Job`,
		`preStop.skipOwnerKinds[1]: Invalid value: "batch/Job": must be a kind such as Job`,
		`shutdownSeconds: Invalid value: 4000: must be between 0 and 3600`,
		`sidecarShutdownSeconds: Invalid value: -5: must be between 0 and 3600`,
		`rollingUpdate.action: Unsupported value: "convert": supported values: "patch", "deny", "warn"`,
		`rollingUpdate.maxSurge: Invalid value: 0: must be greater than 0`,
		`recreate: Unsupported value: "allow": supported values: "deny", "convert", "warn"`,
		`revisionHistory.minimum: Invalid value: 101: must be between 0 and 100`,
		`revisionHistory.action: Unsupported value: "raise"`,
		`workloadDelete: Unsupported value: "block": supported values: "deny", "warn"`,
		`podDelete: Unsupported value: "patch": supported values: "deny", "warn"`,
		`serverVersion: Invalid value: "latest"`,
		`exemptions[0].rules[0]: Unsupported value: "workload-delet"`,
		`exemptions[0].serviceAccounts[0]: Invalid value: "argocd": must be "namespace/name"`,
		`exemptions[0].serviceAccounts[1]: Invalid value: "Argo/cd"`,
		`exemptions[0].serviceAccounts[2]: Invalid value: "argocd/"`,
		`exemptions[1].rules: Required value`,
		`exemptions[1]: Required value: set users, groups or serviceAccounts`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not report %q", want)
		}
	}
	if strings.Contains(err.Error(), "exemptions[0].rules[1]") {
		t.Errorf(`"all" is a valid exemption rule, but the error reports it: %v`, err)
	}
	if t.Failed() {
		t.Logf("the error was:\n%v", err)
	}
}

func TestValidateMaxSurge(t *testing.T) {
	tests := []struct {
		surge string
		valid bool
	}{
		{"1", true}, {"3", true}, {"1%", true}, {"25%", true}, {"100%", true},
		{"0", false}, {"-1", false}, {"0%", false}, {"101%", false},
		{`"25"`, false}, {`"2.5%"`, false}, {`" 25%"`, false}, {`"25%%"`, false}, {`"+25%"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.surge, func(t *testing.T) {
			_, err := Parse([]byte("rollingUpdate: {maxSurge: " + tc.surge + "}"))
			if tc.valid && err != nil {
				t.Errorf("maxSurge %s is rejected: %v", tc.surge, err)
			}
			if !tc.valid && (err == nil || !strings.Contains(err.Error(), "rollingUpdate.maxSurge")) {
				t.Errorf("maxSurge %s: got error %v, want one naming rollingUpdate.maxSurge", tc.surge, err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	defaults, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("No path means every default.", func(t *testing.T) {
		c, err := Load("")
		if err != nil || !reflect.DeepEqual(c, defaults) {
			t.Errorf("Load(\"\") = %+v, %v; want the defaults", c, err)
		}
	})
	t.Run("A file is read, defaulted and validated.", func(t *testing.T) {
		c, err := Load(write("ok.yaml", "podDelete: deny\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.PodDelete != GuardDeny || *c.PreStop.SleepSeconds != 5 {
			t.Errorf("got podDelete %s, sleepSeconds %d; want deny and the default 5", c.PodDelete, *c.PreStop.SleepSeconds)
		}
	})
	t.Run("A missing file is an error naming it.", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.yaml")
		if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("got %v, want an error naming %s", err, missing)
		}
	})
	t.Run("A broken file is an error naming it and the field.", func(t *testing.T) {
		path := write("bad.yaml", "preStop: {sleepSeconds: 7200}\n")
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "preStop.sleepSeconds") {
			t.Errorf("got %v, want an error naming %s and preStop.sleepSeconds", err, path)
		}
	})
}

func TestChangeCauseIsRecordOrOff(t *testing.T) {
	for config, want := range map[string]string{
		"changeCause: always": `changeCause: Unsupported value: "always": supported values: "record", "off"`,
		"changeCause: on":     `want a string such as off, got true`,
		"changeCause: 3":      `want a string such as off, got 3`,
	} {
		if _, err := Parse([]byte(config)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", config, err, want)
		}
	}
}

// Every rule can be switched off, in the style of the file: an unquoted off,
// which YAML 1.1 reads as false, beside the actions.
func TestEveryRuleCanBeSwitchedOff(t *testing.T) {
	c, err := Parse([]byte(`readinessProbe: off
podDelete: warn
preStop: {action: off}
terminationGracePeriod: off
rollingUpdate: {action: off}
recreate: off
revisionHistory: {action: "off"}
updateStrategy: off
scaleToZero: off
scaleDown: off
workloadDelete: off
forceDelete: off
modeLabel: off
changeCause: off
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range RuleIDs {
		if off := c.RuleOff(id); off != (id != RulePodDelete) {
			t.Errorf("rule %s: off = %v", id, off)
		}
	}
	if podDelete, err := Parse([]byte("podDelete: off\n")); err != nil || !podDelete.RuleOff(RulePodDelete) {
		t.Errorf("podDelete: off = %v, %v", podDelete, err)
	}
	on, err := Parse([]byte("readinessProbe: on\n"))
	if err != nil || on.RuleOff(RuleReadinessProbe) {
		t.Errorf("readinessProbe: on = %v, %v", on, err)
	}
	defaults, _ := Parse(nil)
	for _, id := range RuleIDs {
		if defaults.RuleOff(id) {
			t.Errorf("rule %s is off by default", id)
		}
	}
	for _, bad := range []string{"readinessProbe: maybe\n", "podDelete: true\n", "readinessProbe: 3\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
