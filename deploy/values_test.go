// Chart tests: values (the values schema, the configuration file built from them,
// values the chart refuses, the chart README's values table).

package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestConfigMapHoldsThePolicyConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   string
	}{
		{
			name: "By default the file only names its kind, so the binary's defaults apply.",
			want: "apiVersion: gracekeeper.io/v1alpha1\nkind: Configuration\n",
		},
		{
			name: "Configured fields are written under apiVersion and kind, version strings stay strings.",
			values: `
terminationGracePeriodSeconds: 60
config:
  workloadDelete: warn
  shutdownSeconds: 30
  preStop: {sleepSeconds: 10, action: exec, skipOwnerKinds: [Job]}
  serverVersion: "1.32"
  exemptions:
    - rules: [scale-to-zero]
      serviceAccounts: [keda/keda-operator]
`,
			want: `apiVersion: gracekeeper.io/v1alpha1
kind: Configuration
exemptions:
- rules: [scale-to-zero]
  serviceAccounts: [keda/keda-operator]
preStop: {action: exec, skipOwnerKinds: [Job], sleepSeconds: 10}
serverVersion: "1.32"
shutdownSeconds: 30
workloadDelete: warn
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := find[corev1.ConfigMap](t, render(t, "gracekeeper", tt.values), "ConfigMap", "gracekeeper-config")
			if len(cm.Data) != 1 {
				t.Errorf("ConfigMap keys = %v, want only config.yaml", cm.Data)
			}
			var got, want map[string]any
			if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &got); err != nil {
				t.Fatalf("config.yaml is not strict YAML: %v\n%s", err, cm.Data["config.yaml"])
			}
			if err := yaml.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config.yaml =\n%s\nwant\n%s", cm.Data["config.yaml"], tt.want)
			}
		})
	}
}

func TestChartRefusesAGracePeriodThatBreaksGracekeepersRules(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr string
	}{
		{
			name:    "A grace period shorter than preStop plus the 25s shutdown fails the rule gracekeeper enforces.",
			values:  "terminationGracePeriodSeconds: 29\n",
			wantErr: "terminationGracePeriodSeconds 29 must be at least preStopSleepSeconds + config.shutdownSeconds = 30",
		},
		{
			name:    "The configured shutdownSeconds counts, not the default.",
			values:  "config: {shutdownSeconds: 60}\n",
			wantErr: "terminationGracePeriodSeconds 40 must be at least preStopSleepSeconds + config.shutdownSeconds = 65",
		},
		{
			name:    "A drain delay that outlasts the grace period is refused.",
			values:  "drainDelaySeconds: 35\n",
			wantErr: "terminationGracePeriodSeconds 40 must exceed preStopSleepSeconds + drainDelaySeconds = 40",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderChart("gracekeeper", readValues(t, tt.values))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr []string
	}{
		{"A misspelt top-level key is rejected.", "scop: cluster\n", []string{"additional properties 'scop' not allowed"}},
		{"A misspelt nested key is rejected.", "metrics: {serviceMonitor: {enable: true}}\n", []string{"/metrics/serviceMonitor", "additional properties 'enable' not allowed"}},
		{"A misspelt config field is rejected before the binary ever reads it.", "config: {workloadDelet: warn}\n", []string{"/config", "'workloadDelet'"}},
		{"An unknown scope is rejected.", "scope: optin\n", []string{"/scope", "'optIn', 'cluster'"}},
		{"An unknown default mode is rejected.", "defaultMode: warn\n", []string{"/defaultMode", "'enforce', 'audit'"}},
		{"A failure policy in the wrong case is rejected.", "failurePolicy: {validating: fail}\n", []string{"/failurePolicy/validating", "'Ignore', 'Fail'"}},
		{"An unknown config action is rejected.", "config: {recreate: allow}\n", []string{"/config/recreate", "'deny', 'convert', 'warn'"}},
		{"An exemption naming an unknown rule is rejected.", "config: {exemptions: [{rules: [workload-deletes]}]}\n", []string{"/config/exemptions/0/rules/0"}},
		{"Provided certificates need their secret and CA.", "certificates: {mode: provided}\n", []string{"/certificates/provided/secretName", "/certificates/provided/caBundle"}},
		{"A builtin validity that is not a duration is rejected.", "certificates: {builtin: {validity: 1y}}\n", []string{"/certificates/builtin/validity"}},
		{"An unknown certificates mode is rejected.", "certificates: {mode: selfSigned}\n", []string{"/certificates/mode", "'builtin', 'certManager', 'provided'"}},
		{"A timeout beyond the API server's 30s limit is rejected.", "timeoutSeconds: 31\n", []string{"/timeoutSeconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderChart("gracekeeper", readValues(t, tt.values))
			if err == nil {
				t.Fatal("values accepted")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

// The chart's schema checks config before the binary ever reads it, so the two
// must agree: a config the schema passes but the binary refuses installs pods
// that never start, and one the schema refuses but the binary accepts (a
// documented field) cannot be installed at all.
func TestSchemaAgreesWithTheConfigurationFile(t *testing.T) {
	tests := []struct {
		name   string
		values string
		valid  bool
	}{
		{"README's configuration example installs.", readmeConfiguration(t), true},
		{"A surge count installs.", "config: {rollingUpdate: {maxSurge: 2}}\n", true},
		{"A surge percentage installs.", "config: {rollingUpdate: {maxSurge: 100%}}\n", true},
		{"A zero surge is refused.", "config: {rollingUpdate: {maxSurge: 0}}\n", false},
		{"A surge above 100% is refused.", "config: {rollingUpdate: {maxSurge: 101%}}\n", false},
		{"A surge without its percent sign is refused.", "config: {rollingUpdate: {maxSurge: \"5\"}}\n", false},
		{"A zero preStop sleep, no hook, installs.", "config: {preStop: {sleepSeconds: 0}}\n", true},
		{"An hour of preStop sleep installs.", "config: {preStop: {sleepSeconds: 3600}}\n", true},
		{"More than an hour of preStop sleep is refused.", "config: {preStop: {sleepSeconds: 3601}}\n", false},
		{"An hour of shutdown installs.", "terminationGracePeriodSeconds: 3605\nconfig: {shutdownSeconds: 3600}\n", true},
		{"More than an hour of shutdown is refused.", "terminationGracePeriodSeconds: 3606\nconfig: {shutdownSeconds: 3601}\n", false},
		{"A revision history of 100 installs.", "config: {revisionHistory: {minimum: 100}}\n", true},
		{"A revision history above 100 is refused.", "config: {revisionHistory: {minimum: 101}}\n", false},
		{"An owner kind with a slash is refused.", "config: {preStop: {skipOwnerKinds: [batch/Job]}}\n", false},
		{"A provider's server version installs.", "config: {serverVersion: v1.32.4-eks-1}\n", true},
		{"A server version without a minor is refused.", "config: {serverVersion: \"1\"}\n", false},
		{"An exemption for nobody is refused.", "config: {exemptions: [{rules: [all]}]}\n", false},
		{"An exemption with empty lists only is refused.", "config: {exemptions: [{rules: [all], users: [], groups: []}]}\n", false},
		{"An exemption for a group installs.", "config: {exemptions: [{rules: [all], groups: [ops]}]}\n", true},
		{"A service account that is not namespace/name is refused.", "config: {exemptions: [{rules: [all], serviceAccounts: [Keda/op]}]}\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := readValues(t, tt.values)
			objs, renderErr := RenderChart("gracekeeper", values)
			if (renderErr == nil) != tt.valid {
				t.Errorf("chart: error %v, want valid %v", renderErr, tt.valid)
			}
			// The binary reads what the chart would write: apiVersion and kind over config.
			data := []byte(fmt.Sprintf("apiVersion: %s\nkind: %s\n", v1alpha1.GroupVersion, v1alpha1.Kind))
			if config, ok := values["config"]; ok {
				more, err := yaml.Marshal(config)
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, more...)
			}
			if renderErr == nil {
				data = []byte(find[corev1.ConfigMap](t, objs, "ConfigMap", "gracekeeper-config").Data["config.yaml"])
			}
			if _, err := v1alpha1.Parse(data); (err == nil) != tt.valid {
				t.Errorf("binary: error %v, want valid %v, for\n%s", err, tt.valid, data)
			}
		})
	}
}

// readmeConfiguration is the Configuration example of the repository's
// README.md, as the chart's config value.
func readmeConfiguration(t *testing.T) string {
	t.Helper()
	_, example, ok := strings.Cut(policytest.DocSection(t, "../README.md", "Configuration"), "```yaml\n")
	example, _, ok2 := strings.Cut(example, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no yaml example under ## Configuration")
	}
	var lines []string
	for line := range strings.Lines(example) {
		if !strings.HasPrefix(line, "apiVersion:") && !strings.HasPrefix(line, "kind:") {
			lines = append(lines, "  "+line)
		}
	}
	return "config:\n" + strings.Join(lines, "")
}

func TestReadmeDocumentsEveryValue(t *testing.T) {
	c, err := LoadChart()
	if err != nil {
		t.Fatal(err)
	}
	var readme string
	for _, f := range c.Files {
		if f.Name == "README.md" {
			readme = string(f.Data)
		}
	}
	var schema map[string]any
	if err := yaml.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, node map[string]any)
	walk = func(prefix string, node map[string]any) {
		props, ok := node["properties"].(map[string]any)
		if _, mirrorsAPIType := apiTypeValues[prefix]; !ok || mirrorsAPIType {
			if !strings.Contains(readme, "| `"+prefix+"` |") {
				t.Errorf("README.md has no table row for `%s`", prefix)
			}
			return
		}
		for name, sub := range props {
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			walk(key, sub.(map[string]any))
		}
	}
	walk("", schema)
}

// apiTypeValues are the values that hold a Kubernetes API object as is; the
// README documents each in one row.
var apiTypeValues = map[string]any{
	"podSecurityContext": corev1.PodSecurityContext{},
	"securityContext":    corev1.SecurityContext{},
}

// The schema lists the fields of the API types it passes through, so a typo
// is refused at install, and no field of the type is refused.
func TestSchemaKnowsEveryFieldOfTheAPITypesItPasses(t *testing.T) {
	c, err := LoadChart()
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			AdditionalProperties any            `json:"additionalProperties"`
			Properties           map[string]any `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	for value, typ := range apiTypeValues {
		var want []string
		rt := reflect.TypeOf(typ)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			want = append(want, name)
		}
		node := schema.Properties[value]
		if node.AdditionalProperties != false {
			t.Errorf("%s: the schema accepts unknown fields", value)
		}
		got := slices.Sorted(maps.Keys(node.Properties))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema fields %v, want the fields of %s %v", value, got, rt, want)
		}
	}
}
