package cli

import (
	"errors"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/gracekeeper/gracekeeper/policies"
)

func TestParseFlagsSortsErrorsByExitCode(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    error
		wantMsg string
	}{
		{name: "Known flags parse.", args: []string{"-o", "json"}},
		{name: "-h only asks for help.", args: []string{"-h"}, want: ErrHelp},
		{name: "An unknown flag is bad usage.", args: []string{"--nope"}, want: ErrUsage, wantMsg: "unknown flag: --nope"},
		{name: "A positional argument is bad usage.", args: []string{"shop"}, want: ErrUsage, wantMsg: `unexpected arguments ["shop"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.StringP("output", "o", "text", "")
			err := ParseFlags(fs, tt.args)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) || !strings.Contains(errString(err), tt.wantMsg) {
				t.Errorf("ParseFlags(%q) = %v, want %v containing %q", tt.args, err, tt.want, tt.wantMsg)
			}
		})
	}
}

func TestVersionComesFromTheBuildInformation(t *testing.T) {
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install ...@v1.2.3 records the module version.", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"go build in a checkout records the commit.", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, "devel+0123456789ab-dirty"},
		{"Without either it is dev.", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(&tt.info); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
	t.Cleanup(func() { stamped = "" })
	SetVersion("v9.9.9")
	if Version() != "v9.9.9" {
		t.Errorf("a stamped version wins, got %q", Version())
	}
}

func TestOneOfNamesTheFlag(t *testing.T) {
	err := OneOf("output", "yaml", "text", "json", "sarif")
	if !errors.Is(err, ErrUsage) || err.Error() != `usage error: --output must be text, json or sarif, not "yaml"` {
		t.Errorf("OneOf = %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTallyCountsFindingsByAction(t *testing.T) {
	var tally Tally
	tally.Count([]policies.Finding{{Action: policies.ActionDeny}, {Action: policies.ActionPatch}, {Action: policies.ActionPatch}})
	tally.Add(Tally{Warnings: 1})
	if got, want := tally.String(), "1 denial, 2 patches, 1 warning"; got != want {
		t.Errorf("tally = %q, want %q", got, want)
	}
	if got := Plural(0, "pod"); got != "0 pods" {
		t.Errorf("Plural(0, pod) = %q", got)
	}
}

func TestFindingLineGivesADenialItsAlternative(t *testing.T) {
	deny := policies.Finding{Rule: policies.RuleRecreateStrategy, Action: policies.ActionDeny, Message: "problem", Hint: "alternative"}
	if got := FindingLine(deny); got != "DENY   recreate-strategy         problem. alternative" {
		t.Errorf("FindingLine = %q", got)
	}
	warn := policies.Finding{Rule: policies.RuleReadinessProbe, Action: policies.ActionWarn, Message: "problem", Hint: "alternative"}
	if got := FindingText(warn); got != "problem" {
		t.Errorf("FindingText of a warning = %q, want only its message", got)
	}
}
