package main

import (
	"net/url"
	"path/filepath"
	"strings"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// The SARIF 2.1.0 form of a check report (OASIS Static Analysis Results
// Interchange Format, schema sarif-schema-2.1.0.json), which code-scanning
// tools read: one rule per rule id, one result per finding.

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool sarifTool `json:"tool"`
	// ColumnKind says columns count characters, as the YAML parser does.
	ColumnKind  string            `json:"columnKind"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	ShortDescription     sarifMessage       `json:"shortDescription"`
	FullDescription      sarifMessage       `json:"fullDescription"`
	Help                 sarifMessage       `json:"help"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string       `json:"level"`
	Message sarifMessage `json:"message"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           sarifRegion           `json:"region"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
}

// sarifLevel maps an action to a SARIF level: a denial fails the check
// (error); a patch (what --fix writes) and a warning are warnings.
func sarifLevel(a policies.Action) string {
	if a == policies.ActionDeny {
		return "error"
	}
	return "warning"
}

// uriOf writes a path as a relative URI reference, escaping what a URI
// reads otherwise (a space, "#", "%").
func uriOf(path string) string {
	return (&url.URL{Path: filepath.ToSlash(path)}).String()
}

// sarifOf turns a check report into a SARIF log. Paths are written as given
// on the command line, with forward slashes, so run check from the
// repository root for code scanning to place the results.
func sarifOf(report *checkReport) sarifLog {
	driver := sarifDriver{Name: "gracekeeper", Version: version,
		InformationURI: "https://github.com/gracekeeper/gracekeeper", Rules: []sarifRule{}}
	index := map[policies.RuleID]int{}
	for _, id := range policies.ReportedRules() {
		help := policies.RuleHelp(id)
		short, _, _ := strings.Cut(help, ". ")
		index[id] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRule{ID: string(id),
			ShortDescription: sarifMessage{strings.TrimSuffix(short, ".") + "."},
			FullDescription:  sarifMessage{help}, Help: sarifMessage{help},
			DefaultConfiguration: sarifConfiguration{Level: "warning"}})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, ColumnKind: "unicodeCodePoints", Results: []sarifResult{},
		Invocations: []sarifInvocation{{ExecutionSuccessful: len(report.Errors) == 0}}}
	for _, e := range report.Errors {
		run.Invocations[0].ToolExecutionNotifications = append(run.Invocations[0].ToolExecutionNotifications,
			sarifNotification{Level: "error", Message: sarifMessage{e}})
	}
	for _, o := range report.Objects {
		for _, f := range o.Findings {
			run.Results = append(run.Results, sarifResult{RuleID: string(f.Rule), RuleIndex: index[f.Rule],
				Level:   sarifLevel(f.Action),
				Message: sarifMessage{o.Source + " " + f.Object + ": " + cli.FindingText(f.Finding)},
				Locations: []sarifLocation{{PhysicalLocation: sarifPhysicalLocation{
					ArtifactLocation: sarifArtifactLocation{URI: uriOf(f.Location.File)},
					Region:           sarifRegion{StartLine: f.Location.Line, StartColumn: f.Location.Column}}}}})
		}
	}
	return sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}
}
