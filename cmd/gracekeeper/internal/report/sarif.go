package report

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// The SARIF 2.1.0 form of a check report (OASIS Static Analysis Results
// Interchange Format, schema sarif-schema-2.1.0.json), which code-scanning
// tools read: one rule per rule id, one result per finding. The properties
// GitHub code scanning and Azure DevOps read are set: rule name and helpUri,
// driver fullName, automationDetails.id (the category that keeps two runs'
// alerts apart), partialFingerprints (which keep an alert across line moves)
// and relative URIs against %SRCROOT%.

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// srcRoot is the uriBaseId of every relative URI: the directory check ran in.
	srcRoot = "%SRCROOT%"
	// RulesDoc is the page whose anchors are the rule ids (helpUri).
	RulesDoc = "https://github.com/gracekeeper/gracekeeper/blob/main/docs/rules.md"
	// fingerprintKey names gracekeeper's own partial fingerprint, versioned so
	// that a change of its recipe is a new key, not a mass of new alerts.
	fingerprintKey = "gracekeeperFinding/v1"
)

// SARIFLog is a SARIF 2.1.0 log of one run.
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []SARIFRun `json:"runs"`
}

// SARIFRun is the run of one check.
type SARIFRun struct {
	Tool               SARIFTool                        `json:"tool"`
	AutomationDetails  SARIFAutomationDetails           `json:"automationDetails"`
	OriginalURIBaseIDs map[string]SARIFArtifactLocation `json:"originalUriBaseIds,omitempty"`
	// ColumnKind says columns count characters, as the YAML parser does.
	ColumnKind  string            `json:"columnKind"`
	Invocations []SARIFInvocation `json:"invocations"`
	Results     []SARIFResult     `json:"results"`
}

// SARIFAutomationDetails.ID is "category/": GitHub keeps the alerts of each
// category apart, so checks of two paths do not close each other's alerts.
type SARIFAutomationDetails struct {
	ID string `json:"id"`
}

type SARIFTool struct {
	Driver SARIFDriver `json:"driver"`
}

type SARIFDriver struct {
	Name           string      `json:"name"`
	FullName       string      `json:"fullName"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []SARIFRule `json:"rules"`
}

type SARIFRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     SARIFMessage       `json:"shortDescription"`
	FullDescription      SARIFMessage       `json:"fullDescription"`
	Help                 SARIFMessage       `json:"help"`
	HelpURI              string             `json:"helpUri"`
	DefaultConfiguration SARIFConfiguration `json:"defaultConfiguration"`
}

type SARIFConfiguration struct {
	Level string `json:"level"`
}

type SARIFMessage struct {
	Text string `json:"text"`
}

type SARIFInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []SARIFNotification `json:"toolExecutionNotifications,omitempty"`
}

type SARIFNotification struct {
	Level     string          `json:"level"`
	Message   SARIFMessage    `json:"message"`
	Locations []SARIFLocation `json:"locations,omitempty"`
}

type SARIFResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             SARIFMessage      `json:"message"`
	Locations           []SARIFLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type SARIFLocation struct {
	PhysicalLocation SARIFPhysicalLocation `json:"physicalLocation"`
}

type SARIFPhysicalLocation struct {
	ArtifactLocation SARIFArtifactLocation `json:"artifactLocation"`
	Region           *SARIFRegion          `json:"region,omitempty"`
}

type SARIFArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type SARIFRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// Level maps an action to a SARIF level: a denial fails the check (error);
// a patch (what --fix writes) and a warning are warnings.
func Level(a policies.Action) string {
	if a == policies.ActionDeny {
		return "error"
	}
	return "warning"
}

// RuleName is a rule id as a SARIF rule name: "readiness-probe" is
// "ReadinessProbe".
func RuleName(id policies.RuleID) string {
	var b strings.Builder
	for part := range strings.SplitSeq(string(id), "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// artifact writes a path as SARIF reads it: relative to baseDir against
// %SRCROOT% when it lies below it, else an absolute file URI. Characters a
// URI reads otherwise (a space, "#", "%") are escaped.
func artifact(path, baseDir string) SARIFArtifactLocation {
	if path == "-" || path == "" {
		return SARIFArtifactLocation{URI: "stdin"}
	}
	if baseDir != "" {
		abs, err := filepath.Abs(path)
		if err == nil {
			if rel, err := filepath.Rel(baseDir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return SARIFArtifactLocation{URI: (&url.URL{Path: filepath.ToSlash(rel)}).String(), URIBaseID: srcRoot}
			}
			return SARIFArtifactLocation{URI: (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()}
		}
	}
	return SARIFArtifactLocation{URI: (&url.URL{Path: filepath.ToSlash(path)}).String(), URIBaseID: srcRoot}
}

func region(line, column int) *SARIFRegion {
	if line <= 0 {
		return nil
	}
	return &SARIFRegion{StartLine: line, StartColumn: column}
}

// fingerprint identifies a finding by what it is about, not where it is
// written: the file, the object, the rule and the field.
func fingerprint(file string, o *Object, f *Finding) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{file, o.APIVersion, o.Kind, o.Namespace, o.Name,
		string(f.Rule), f.Location.Field}, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// Category is the automationDetails.id of a check of these paths:
// "gracekeeper/check/" and the paths, so that checks of different paths in
// one repository keep their alerts apart, and a rerun replaces its own.
func Category(paths []string) string {
	return "gracekeeper/check/" + strings.Join(paths, ",") + "/"
}

// SARIF turns a check report into a SARIF log. baseDir is %SRCROOT%, the
// directory relative paths are written against (run check from the
// repository root for code scanning to place the results); category is
// automationDetails.id (Category).
func SARIF(r *Check, baseDir, category string) SARIFLog {
	driver := SARIFDriver{Name: "gracekeeper", FullName: "gracekeeper check " + cli.Version(), Version: cli.Version(),
		InformationURI: "https://github.com/gracekeeper/gracekeeper", Rules: []SARIFRule{}}
	// A rule's default level is the level of its findings in this run,
	// error when any is a denial, since the configuration decides actions.
	levels := map[policies.RuleID]string{}
	for _, o := range r.Objects {
		for _, f := range o.Findings {
			if levels[f.Rule] != "error" {
				levels[f.Rule] = Level(f.Action)
			}
		}
	}
	index := map[policies.RuleID]int{}
	for _, id := range policies.ReportedRules() {
		help := policies.RuleHelp(id)
		short, _, _ := strings.Cut(help, ". ")
		level := levels[id]
		if level == "" {
			level = "warning"
		}
		index[id] = len(driver.Rules)
		driver.Rules = append(driver.Rules, SARIFRule{ID: string(id), Name: RuleName(id),
			ShortDescription: SARIFMessage{strings.TrimSuffix(short, ".") + "."},
			FullDescription:  SARIFMessage{help}, Help: SARIFMessage{help}, HelpURI: RulesDoc + "#" + string(id),
			DefaultConfiguration: SARIFConfiguration{Level: level}})
	}
	run := SARIFRun{Tool: SARIFTool{Driver: driver}, AutomationDetails: SARIFAutomationDetails{ID: category},
		ColumnKind: "unicodeCodePoints", Results: []SARIFResult{},
		Invocations: []SARIFInvocation{{ExecutionSuccessful: len(r.Errors) == 0}}}
	if baseDir != "" {
		run.OriginalURIBaseIDs = map[string]SARIFArtifactLocation{
			srcRoot: {URI: (&url.URL{Scheme: "file", Path: filepath.ToSlash(baseDir) + "/"}).String()}}
	}
	for _, e := range r.Errors {
		n := SARIFNotification{Level: "error", Message: SARIFMessage{e.String()}}
		if e.File != "" {
			n.Locations = []SARIFLocation{{PhysicalLocation: SARIFPhysicalLocation{
				ArtifactLocation: artifact(e.File, baseDir), Region: region(e.Line, 0)}}}
		}
		run.Invocations[0].ToolExecutionNotifications = append(run.Invocations[0].ToolExecutionNotifications, n)
	}
	for _, w := range r.Warnings {
		run.Invocations[0].ToolExecutionNotifications = append(run.Invocations[0].ToolExecutionNotifications,
			SARIFNotification{Level: "warning", Message: SARIFMessage{w}})
	}
	for i := range r.Objects {
		o := &r.Objects[i]
		for j := range o.Findings {
			f := &o.Findings[j]
			loc := artifact(f.Location.File, baseDir)
			run.Results = append(run.Results, SARIFResult{RuleID: string(f.Rule), RuleIndex: index[f.Rule],
				Level:   Level(f.Action),
				Message: SARIFMessage{o.Source + " " + f.Object + ": " + cli.FindingText(f.Finding)},
				Locations: []SARIFLocation{{PhysicalLocation: SARIFPhysicalLocation{
					ArtifactLocation: loc, Region: region(f.Location.Line, f.Location.Column)}}},
				PartialFingerprints: map[string]string{fingerprintKey: fingerprint(loc.URI, o, f)}})
		}
	}
	return SARIFLog{Schema: sarifSchema, Version: sarifVersion, Runs: []SARIFRun{run}}
}
