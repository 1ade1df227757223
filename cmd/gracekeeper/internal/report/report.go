// Package report holds the report of "gracekeeper check" and the formats it
// is written in: text for people, JSON (the stable schema of docs/check.md),
// SARIF 2.1.0 for code-scanning tools and JUnit XML for CI test reports.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// Formats are the values of "check -o", the first the default.
var Formats = []string{"text", "json", "sarif", "junit"}

// Check is the stable JSON schema of "check -o json" (docs/check.md).
type Check struct {
	Objects []Object `json:"objects"`
	// Skipped are Kubernetes objects of kinds gracekeeper has no rules for.
	Skipped []Skipped `json:"skipped"`
	// NotObjects are YAML documents or files that are not Kubernetes objects
	// (a CI workflow, a chart's values.yaml), skipped and counted.
	NotObjects []NotObject `json:"notObjects"`
	Errors     []Error     `json:"errors"`
	// Warnings are about the run, not the objects: nothing found to check.
	Warnings []string `json:"warnings"`
	Summary  Summary  `json:"summary"`
}

// New is an empty report whose lists encode as [] rather than null.
func New() *Check {
	return &Check{Objects: []Object{}, Skipped: []Skipped{}, NotObjects: []NotObject{}, Errors: []Error{}, Warnings: []string{}}
}

// Object is one object judged, with its findings.
type Object struct {
	// Source names the object's place: "app.yaml#2" (file and document index),
	// or for a rendered object the chart or kustomization and the template or
	// file it came from when the renderer tells it.
	Source     string    `json:"source"`
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace,omitempty"`
	Name       string    `json:"name"`
	Findings   []Finding `json:"findings"`
	// Rendered is set for an object rendered from a Helm chart or a
	// kustomization: its locations name the source file without a line.
	Rendered bool `json:"rendered,omitempty"`
}

// Ref is "namespace/kind/name" as the text report prints it.
func (o *Object) Ref() string {
	ref := strings.ToLower(o.Kind) + "/" + o.Name
	if o.Namespace != "" {
		ref = o.Namespace + "/" + ref
	}
	return ref
}

// Finding is a finding with the place in the manifest it is about.
type Finding struct {
	policies.Finding
	Location Location `json:"location"`
}

// Location is where a finding points in the manifest as read: the key of its
// field, or of the nearest parent that is written when a patch adds the
// field; line and column are 1-based, 0 when unknown (a rendered template).
type Location struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Field is the JSON pointer of the field within the object.
	Field string `json:"field,omitempty"`
}

func (l Location) String() string {
	if l.Line == 0 {
		return l.File + " (rendered)"
	}
	return fmt.Sprintf("%s:%d:%d", l.File, l.Line, l.Column)
}

// Skipped is a Kubernetes object of a kind no rule reads.
type Skipped struct {
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// NotObject is a document or a file that holds no Kubernetes object.
type NotObject struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// Error is an input error: a file that cannot be read or rendered, an
// object that does not decode. Line is 1-based, 0 when unknown; Message
// names the file unless Line is set.
type Error struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// String is the error as printed: "file:line: message" when the line is
// known; the message names its file otherwise.
func (e Error) String() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return e.Message
}

// Summary counts objects and findings.
type Summary struct {
	Objects int `json:"objects"`
	cli.Tally
	Fixed bool `json:"fixed"`
}

// Write writes the report in format (one of Formats); version names the tool
// in SARIF and JUnit.
func Write(w io.Writer, format string, r *Check, opts TextOptions) error {
	switch format {
	case "json":
		return cli.WriteJSON(w, r)
	case "sarif":
		return cli.WriteJSON(w, SARIF(r, opts.BaseDir, opts.Category))
	case "junit":
		return WriteJUnit(w, r, opts.Strict)
	}
	WriteText(w, r, opts)
	return nil
}

// TextOptions shape the text report; BaseDir is also SARIF's %SRCROOT%.
type TextOptions struct {
	// Fix says the run wrote the patches.
	Fix bool
	// Verbose lists the documents that are not Kubernetes objects.
	Verbose bool
	// BaseDir is the directory paths are relative to (the working directory).
	// Strict makes every finding fail the run, and so a JUnit test case.
	Strict bool
	// Category is SARIF's automationDetails.id.
	Category string
	BaseDir  string
}

// WriteText writes the report for people.
func WriteText(w io.Writer, r *Check, opts TextOptions) {
	for _, o := range r.Objects {
		if len(o.Findings) == 0 {
			fmt.Fprintf(w, "%s  %s: ok\n", o.Source, o.Ref())
			continue
		}
		fmt.Fprintf(w, "%s  %s\n", o.Source, o.Ref())
		for _, f := range o.Findings {
			fmt.Fprintf(w, "  %s  %s\n", f.Location, cli.FindingLine(f.Finding))
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "%s  %s/%s: skipped, %s\n", s.Source, strings.ToLower(s.Kind), s.Name, s.Reason)
	}
	if opts.Verbose {
		for _, n := range r.NotObjects {
			fmt.Fprintf(w, "%s: not a Kubernetes object, skipped: %s\n", n.Source, n.Reason)
		}
	}
	sum := r.Summary
	fmt.Fprintf(w, "\n%d checked, %d skipped", sum.Objects, len(r.Skipped))
	if n := len(r.NotObjects); n > 0 {
		fmt.Fprintf(w, ", %s that %s no Kubernetes object", cli.Plural(n, "document"), map[bool]string{true: "is", false: "are"}[n == 1])
		if !opts.Verbose {
			fmt.Fprint(w, " (-v lists them)")
		}
	}
	fmt.Fprintf(w, ": %s.", sum.Tally)
	switch {
	case opts.Fix && sum.Patches > 0 && sum.Fixed:
		fmt.Fprint(w, " The patches were written into the manifests.")
	case opts.Fix && sum.Patches > 0:
		fmt.Fprint(w, " The patches the errors and warnings name were not written (apply them by hand); the others were written into the manifests.")
	case sum.Patches > 0:
		fmt.Fprint(w, " Run with --fix to write the patches into the manifests.")
	}
	fmt.Fprintln(w)
}
