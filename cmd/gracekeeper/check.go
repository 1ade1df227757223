package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// stdin is read by "check -f -"; tests replace it.
var stdin io.Reader = os.Stdin

// checkReport is the stable JSON schema of "check -o json" (docs/check.md).
type checkReport struct {
	Objects []checkedObject `json:"objects"`
	Skipped []skippedObject `json:"skipped"`
	Errors  []string        `json:"errors"`
	Summary checkSummary    `json:"summary"`
}

type checkedObject struct {
	Source     string           `json:"source"`
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace,omitempty"`
	Name       string           `json:"name"`
	Findings   []checkedFinding `json:"findings"`
	object     *manifest.Object
}

// checkedFinding is a finding with the place in the manifest it is about.
type checkedFinding struct {
	policies.Finding
	Location findingLocation `json:"location"`
}

// findingLocation is where a finding points in the manifest as read: the key
// of its field, or of the nearest parent that is written when a patch adds
// the field; line and column are 1-based.
type findingLocation struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Field is the JSON pointer of the field within the object.
	Field string `json:"field,omitempty"`
}

func (l findingLocation) String() string { return fmt.Sprintf("%s:%d:%d", l.File, l.Line, l.Column) }

type skippedObject struct {
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type checkSummary struct {
	Objects int `json:"objects"`
	cli.Tally
	Fixed bool `json:"fixed"`
}

func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files stringList
	fs.Var(&files, "f", "manifest file, directory (recursive) or - for stdin; repeatable")
	output := fs.String("o", "text", "output format: text, json or sarif (SARIF 2.1.0, for code-scanning tools)")
	configPath := fs.String("config", "", "policy configuration file (default: built-in defaults)")
	kubeVersion := fs.String("kube-version", "1.33", "Kubernetes version the manifests target; from 1.33 the preStop hook uses the native sleep action, below it exec \"sleep N\"")
	fix := fs.Bool("fix", false, "apply the patches to the manifests: files are rewritten in place, stdin goes to stdout")
	strict := fs.Bool("strict", false, "exit 1 on any finding, not only on denials")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gracekeeper check -f FILE|DIR|- [flags]\n\nEvaluates manifests as the webhook would on CREATE in enforce mode.\nExit code: 0 nothing denied, 1 a denial (or any finding with --strict), 2 bad input.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: name manifests with -f", cli.ErrUsage)
	}
	if *output != "text" && *output != "json" && *output != "sarif" {
		return fmt.Errorf("%w: -o must be text, json or sarif, not %q", cli.ErrUsage, *output)
	}
	cfg, err := v1alpha1.Load(*configPath)
	if err != nil {
		return err
	}
	engine, err := policies.New(cfg, *kubeVersion)
	if err != nil {
		return err
	}

	report := checkReport{Objects: []checkedObject{}, Skipped: []skippedObject{}, Errors: []string{}}
	paths, err := manifestPaths(files)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	var sources []*manifest.File
	for _, path := range paths {
		f, err := readManifest(path, stdin)
		if err != nil {
			report.Errors = append(report.Errors, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		sources = append(sources, f)
		objects, errs := f.Objects()
		for _, err := range errs {
			report.Errors = append(report.Errors, err.Error())
		}
		for i := range objects {
			evaluate(engine, &objects[i], &report)
		}
	}

	if *fix {
		if err := applyFixes(&report, sources, stdout); err != nil {
			return err
		}
		if slices.Contains(files, "-") {
			stdout = stderr // the fixed manifests from stdin went to stdout
		}
	}
	switch *output {
	case "json":
		if err := cli.WriteJSON(stdout, report); err != nil {
			return err
		}
	case "sarif":
		if err := cli.WriteJSON(stdout, sarifOf(&report)); err != nil {
			return err
		}
	default:
		printCheck(stdout, &report, *fix)
	}

	switch {
	case len(report.Errors) > 0:
		for _, e := range report.Errors {
			fmt.Fprintln(stderr, "error:", e)
		}
		return fmt.Errorf("%d input error(s); fix them and run again", len(report.Errors))
	case report.Summary.Denials > 0, *strict && report.Summary.Denials+report.Summary.Patches+report.Summary.Warnings > 0:
		return cli.ErrFindings
	}
	return nil
}

// evaluate runs the engine on one manifest, as a CREATE in enforce mode.
func evaluate(engine *policies.Engine, o *manifest.Object, report *checkReport) {
	obj, err := policies.Decode(schema.FromAPIVersionAndKind(o.APIVersion, o.Kind), o.JSON)
	if errors.Is(err, policies.ErrUnknownKind) {
		report.Skipped = append(report.Skipped, skippedObject{Source: o.Where(), Kind: o.Kind, Name: o.Name,
			Reason: fmt.Sprintf("gracekeeper has no rules for %s %s", o.APIVersion, o.Kind)})
		return
	}
	if err != nil {
		report.Errors = append(report.Errors, fmt.Sprintf("%s (%s %s): %v", o.Where(), o.Kind, o.Name, err))
		return
	}
	findings := engine.Evaluate(&policies.Review{Operation: policies.Create, Kind: o.Kind,
		Namespace: o.Namespace, Name: o.Name, Object: obj})
	checked := checkedObject{Source: o.Where(), APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace,
		Name: o.Name, Findings: []checkedFinding{}, object: o}
	for _, f := range findings {
		at := o.Locate(f.Locus())
		checked.Findings = append(checked.Findings, checkedFinding{Finding: f,
			Location: findingLocation{File: o.File.Path, Line: at.Line, Column: at.Column, Field: f.Locus()}})
	}
	report.Summary.Count(findings)
	report.Summary.Objects++
	report.Objects = append(report.Objects, checked)
}

// applyFixes writes every patch into the manifests: pod patches go into the
// templates, so what is committed is what the cluster would run.
// A patch or a file that cannot be written is an input error; the others
// still are.
func applyFixes(report *checkReport, sources []*manifest.File, stdout io.Writer) error {
	written := true
	for _, o := range report.Objects {
		for _, f := range o.Findings {
			if f.Action != policies.ActionPatch {
				continue
			}
			if err := o.object.Apply(f.Patch); err != nil {
				report.Errors = append(report.Errors, err.Error())
				written = false
			}
		}
	}
	for _, f := range sources {
		switch {
		case f.Path == "-":
			if _, err := stdout.Write(f.Bytes()); err != nil {
				return fmt.Errorf("write fixed manifests: %w", err)
			}
		case f.Changed():
			if err := writeManifest(f); err != nil {
				report.Errors = append(report.Errors, fmt.Sprintf("%s: cannot write the fixes, the file is as it was: %v", f.Path, err))
				written = false
			}
		}
	}
	report.Summary.Fixed = written
	return nil
}

func printCheck(w io.Writer, report *checkReport, fix bool) {
	for _, o := range report.Objects {
		ref := strings.ToLower(o.Kind) + "/" + o.Name
		if o.Namespace != "" {
			ref = o.Namespace + "/" + ref
		}
		if len(o.Findings) == 0 {
			fmt.Fprintf(w, "%s  %s: ok\n", o.Source, ref)
			continue
		}
		fmt.Fprintf(w, "%s  %s\n", o.Source, ref)
		for _, f := range o.Findings {
			fmt.Fprintf(w, "  %s  %s\n", f.Location, cli.FindingLine(f.Finding))
		}
	}
	for _, s := range report.Skipped {
		fmt.Fprintf(w, "%s  %s/%s: skipped, %s\n", s.Source, strings.ToLower(s.Kind), s.Name, s.Reason)
	}
	sum := report.Summary
	fmt.Fprintf(w, "\n%d checked, %d skipped: %s.", sum.Objects, len(report.Skipped), sum.Tally)
	switch {
	case fix && sum.Patches > 0 && sum.Fixed:
		fmt.Fprint(w, " The patches were written into the manifests.")
	case fix && sum.Patches > 0:
		fmt.Fprint(w, " The other patches were written into the manifests; apply the ones in the errors by hand.")
	case sum.Patches > 0:
		fmt.Fprint(w, " Run with --fix to write the patches into the manifests.")
	}
	fmt.Fprintln(w)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
