// Package check is "gracekeeper check": it judges manifests offline, as the
// webhook would judge their CREATE in enforce mode, in CI or before a commit.
// It reads files, directories (walked as a repository is: hidden directories
// and documents that are no Kubernetes object are skipped), Helm charts and
// kustomizations (rendered in-process), and stdin.
package check

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// stdin is read by "check -"; tests replace it.
var stdin io.Reader = os.Stdin

// DefaultKubeVersion is the Kubernetes version manifests are judged for
// without --kube-version: from 1.33 the preStop hook uses the native sleep
// action (KEP-3960, GA in 1.33).
const DefaultKubeVersion = "1.33"

// Options are the flags of "check".
type Options struct {
	Paths       []string
	Output      string
	ConfigPath  string
	KubeVersion string
	Fix         bool
	PrintFixed  bool
	Strict      bool
	Verbose     bool
	Exclude     []string
	// Values and Set are Helm's --values and --set, for every chart checked.
	Values []string
	Set    []string
}

// NewCommand is the "check" command.
func NewCommand() *cobra.Command {
	o := &Options{}
	var files []string
	cmd := &cobra.Command{
		Use:   "check [PATH...] [-f PATH]... [flags]",
		Short: "Judge manifests offline, as in CI; --fix writes the patches",
		Long: `Judges manifests as the webhook would judge their CREATE in enforce mode.

PATH is a manifest file, a directory, or - for stdin; the default is the
current directory. Directories are walked as a repository is: hidden
directories are skipped, YAML and JSON documents that are no Kubernetes object
(a CI workflow, package.json, a chart's values.yaml) are skipped and counted
(-v lists them). A directory holding Chart.yaml is rendered with the Helm SDK
(--values, --set, --kube-version), one holding kustomization.yaml with
kustomize; their findings name the template or file the object came from.

Exit code: 0 nothing denied, 1 a denial (with --strict: any finding, or no
object found), 2 bad usage or input.`,
		Example: `  # Check a repository, as a CI gate
  gracekeeper check .

  # Check a chart with the values of one environment
  gracekeeper check deploy/chart --values deploy/prod-values.yaml --set replicaCount=3

  # Check rendered output, and write SARIF for code scanning
  helm template deploy/chart | gracekeeper check - -o sarif > gracekeeper.sarif

  # Write the patches into the manifests
  gracekeeper check deploy/ --fix`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = append(append([]string{}, files...), args...)
			if len(o.Paths) == 0 {
				o.Paths = []string{"."}
			}
			return o.Run(cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.SetFlagErrorFunc(cli.FlagError)
	flags := cmd.Flags()
	flags.StringSliceVarP(&files, "filename", "f", nil, "manifest file, directory or - for stdin, as the positional PATHs; repeatable")
	flags.StringVarP(&o.Output, "output", "o", report.Formats[0], "output format: text, json, sarif (SARIF 2.1.0, for code scanning) or junit (JUnit XML, for CI test reports)")
	flags.StringVar(&o.ConfigPath, "config", "", "policy configuration file (kind Configuration, gracekeeper.io/v1alpha1); empty means every default")
	flags.StringVar(&o.KubeVersion, "kube-version", DefaultKubeVersion, "Kubernetes version the manifests target (e.g. 1.31 or v1.31.4): from 1.33 the preStop hook uses the native sleep action, below it exec \"sleep N\"; charts render with it as .Capabilities.KubeVersion")
	flags.BoolVar(&o.Fix, "fix", false, "write the patches into the manifests: files are rewritten in place, stdin goes to stdout; templates of charts and kustomizations are not written (see --print-fixed)")
	flags.BoolVar(&o.PrintFixed, "print-fixed", false, "with --fix: print the rendered objects of charts and kustomizations, with the patches applied, to stdout (the report goes to stderr)")
	flags.BoolVar(&o.Strict, "strict", false, "exit 1 on any finding, not only on denials, and when no object is found")
	flags.BoolVarP(&o.Verbose, "verbose", "v", false, "list the documents skipped because they are no Kubernetes object")
	flags.StringArrayVar(&o.Exclude, "exclude", nil, "skip paths matching this glob (** matches directories; a pattern without / matches a file or directory name anywhere); repeatable")
	flags.StringArrayVar(&o.Values, "values", nil, "Helm values file for the charts checked; repeatable")
	flags.StringArrayVar(&o.Set, "set", nil, "Helm value for the charts checked, key=value as helm's --set; repeatable")
	_ = cmd.RegisterFlagCompletionFunc("output", cli.CompleteValues(report.Formats...))
	_ = cmd.RegisterFlagCompletionFunc("kube-version", cobra.NoFileCompletions)
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	_ = cmd.MarkFlagFilename("values", "yaml", "yml")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// validate checks every flag value, with usage errors that name the flag.
func (o *Options) validate() error {
	if err := cli.OneOf("output", o.Output, report.Formats...); err != nil {
		return err
	}
	if err := ValidateKubeVersion(o.KubeVersion); err != nil {
		return err
	}
	if o.PrintFixed && !o.Fix {
		return fmt.Errorf("%w: --print-fixed prints what --fix changes: add --fix", cli.ErrUsage)
	}
	for _, pattern := range o.Exclude {
		if !validGlob(pattern) {
			return fmt.Errorf("%w: --exclude %q is not a valid glob", cli.ErrUsage, pattern)
		}
	}
	return nil
}

// ValidateKubeVersion accepts a Kubernetes version as "1.33", "v1.33" or
// "v1.33.2": a usage error naming --kube-version otherwise.
func ValidateKubeVersion(v string) error {
	if _, err := version.ParseGeneric(v); err != nil {
		return fmt.Errorf("%w: --kube-version %q is not a Kubernetes version; want one such as 1.33 or v1.33.2", cli.ErrUsage, v)
	}
	return nil
}

// Run runs the check: cli.ErrUsage-wrapped errors for bad flags,
// cli.ErrFindings when the findings fail it, another error for bad input.
func (o *Options) Run(stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	cfg, err := v1alpha1.Load(o.ConfigPath)
	if err != nil {
		return fmt.Errorf("%w: --config: %w", cli.ErrUsage, err)
	}
	engine, err := policies.New(cfg, o.KubeVersion)
	if err != nil {
		return err
	}
	baseDir, _ := os.Getwd()
	r := report.New()
	sources, err := o.collect(r)
	if err != nil {
		return err
	}
	var judged []judgedObject
	for _, s := range sources {
		objects, errs := s.file.Objects()
		r.Warnings = append(r.Warnings, s.file.Warnings()...)
		for _, err := range errs {
			switch {
			case errors.Is(err, manifest.ErrNotObject):
				r.NotObjects = append(r.NotObjects, report.NotObject{Source: s.display(err), Reason: notObjectReason(err)})
			case s.rendered:
				e := inputError(s.file.Path, errors.New(s.message(err)))
				e.Line = 0 // of the rendered text, not the template
				r.Errors = append(r.Errors, e)
			default: // a Go template can read as YAML, and fail here
				badInput(r, s.file.Path, s.file.Bytes(), s.named, err)
			}
		}
		for i := range objects {
			if j, ok := evaluate(engine, s, &objects[i], r); ok {
				judged = append(judged, j)
			}
		}
	}
	if r.Summary.Objects == 0 && len(r.Skipped) == 0 && len(r.Errors) == 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("no Kubernetes object found in %v: is the path right?", o.Paths))
	}

	printTo := stdout
	if o.Fix {
		manifestsOut := o.applyFixes(r, sources, judged, stdout)
		if manifestsOut {
			printTo = stderr // stdout carries the fixed manifests
		}
	}
	if err := report.Write(printTo, o.Output, r, report.TextOptions{Fix: o.Fix, Verbose: o.Verbose, Strict: o.Strict,
		BaseDir: baseDir, Category: report.Category(o.Paths)}); err != nil {
		return err
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	switch sum := r.Summary; {
	case len(r.Errors) > 0:
		for _, e := range r.Errors {
			fmt.Fprintln(stderr, "error:", e)
		}
		return fmt.Errorf("%s; fix them, or skip their paths with --exclude, and run again", cli.Plural(len(r.Errors), "input error"))
	case sum.Denials > 0:
		return cli.ErrFindings
	case o.Strict && (sum.Patches+sum.Warnings > 0 || sum.Objects == 0):
		return cli.ErrFindings
	}
	return nil
}

// judgedObject is an object judged, with what --fix needs.
type judgedObject struct {
	index  int // in the report's Objects
	object *manifest.Object
	source *source
}

// evaluate runs the engine on one object, as a CREATE in enforce mode.
func evaluate(engine *policies.Engine, s *source, o *manifest.Object, r *report.Check) (judgedObject, bool) {
	where := s.where(o)
	obj, err := policies.Decode(schema.FromAPIVersionAndKind(o.APIVersion, o.Kind), o.JSON)
	if errors.Is(err, policies.ErrUnknownKind) {
		r.Skipped = append(r.Skipped, report.Skipped{Source: where, Kind: o.Kind, Name: o.Name,
			Reason: fmt.Sprintf("gracekeeper has no rules for %s %s", o.APIVersion, o.Kind)})
		return judgedObject{}, false
	}
	if err != nil {
		e := decodeError(err, o)
		if s.rendered {
			e.Line = 0
		}
		e.File = s.file.Path
		e.Message = fmt.Sprintf("%s %s (%s): %s", o.Kind, o.Name, where, e.Message)
		r.Errors = append(r.Errors, e)
		return judgedObject{}, false
	}
	findings := engine.Evaluate(&policies.Review{Operation: policies.Create, Kind: o.Kind,
		Namespace: o.Namespace, Name: o.Name, Object: obj})
	checked := report.Object{Source: where, APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace,
		Name: o.Name, Findings: []report.Finding{}, Rendered: s.rendered}
	for _, f := range findings {
		loc := report.Location{File: s.fileOf(o), Field: f.Locus()}
		if !s.rendered {
			at := o.Locate(f.Locus())
			loc.Line, loc.Column = at.Line, at.Column
		}
		checked.Findings = append(checked.Findings, report.Finding{Finding: f, Location: loc})
	}
	r.Summary.Count(findings)
	r.Summary.Objects++
	r.Objects = append(r.Objects, checked)
	return judgedObject{index: len(r.Objects) - 1, object: o, source: s}, true
}

// applyFixes writes every patch into the manifests: pod patches go into the
// templates, so what is committed is what the cluster would run. A patch or a
// file that cannot be written is an input error; the others still are.
// Rendered objects are fixed in memory only: printed with --print-fixed.
// It reports whether stdout now carries manifests.
func (o *Options) applyFixes(r *report.Check, sources []*source, judged []judgedObject, stdout io.Writer) bool {
	written := true
	var renderedPatched []string
	for _, j := range judged {
		for _, f := range r.Objects[j.index].Findings {
			if f.Action != policies.ActionPatch {
				continue
			}
			if err := j.object.Apply(f.Patch); err != nil {
				r.Errors = append(r.Errors, report.Error{File: j.source.file.Path, Message: err.Error()})
				written = false
			}
			if j.source.rendered && !slices.Contains(renderedPatched, j.source.root) {
				renderedPatched = append(renderedPatched, j.source.root)
			}
		}
	}
	manifestsOut := false
	for _, s := range sources {
		switch {
		case s.file.Path == "-":
			manifestsOut = true
			if _, err := stdout.Write(s.file.Bytes()); err != nil {
				r.Errors = append(r.Errors, report.Error{File: "-", Message: "write fixed manifests: " + err.Error()})
			}
		case s.rendered && o.PrintFixed:
			manifestsOut = true
			fmt.Fprintf(stdout, "---\n# Source: %s\n%s", s.file.Path, s.file.Bytes())
		case s.rendered:
		case s.file.Changed():
			if err := writeManifest(s.file); err != nil {
				r.Errors = append(r.Errors, report.Error{File: s.file.Path, Message: s.file.Path + ": cannot write the fixes, the file is as it was: " + err.Error()})
				written = false
			}
		}
	}
	for _, root := range renderedPatched {
		written = false
		msg := fmt.Sprintf("%s is rendered (a Helm chart or a kustomization): --fix cannot write patches into its templates; make the changes the findings name in the sources", root)
		if !o.PrintFixed {
			msg += ", or run with --print-fixed to print the rendered objects with the patches applied"
		}
		r.Warnings = append(r.Warnings, msg)
	}
	r.Summary.Fixed = written
	return manifestsOut
}
