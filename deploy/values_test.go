// Chart tests: values (the values schema, the configuration file built from them,
// values the chart refuses, the chart README's values table).

package deploy

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
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
		if !ok {
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
