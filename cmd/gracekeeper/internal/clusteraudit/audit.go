// Package clusteraudit is "gracekeeper audit": it reads a cluster's
// workloads, running pods and webhook configurations, judges each workload as
// a CREATE in enforce mode with the same engine the webhook runs, and reports
// per namespace, as text, JSON or PolicyReports. It changes nothing in the
// cluster but the PolicyReports it is asked to write.
package clusteraudit

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// auditOptions are the flags of "audit" that shape the scan.
type auditOptions struct {
	// namespace is the one namespace to scan; "" with allNamespaces or selector.
	namespace     string
	allNamespaces bool
	// selector selects namespaces by label; it implies allNamespaces.
	selector string
	// scope and defaultMode resolve modes when no webhook configuration is installed.
	scope       string
	defaultMode policies.Mode
	// webhookName picks the webhook configurations when several installs exist.
	webhookName  string
	writeReports bool
}

// clusterClients are the connections "audit" uses.
type clusterClients struct {
	// server is the API server's URL, for messages.
	server string
	// namespace is the kubeconfig context's namespace, the default scope.
	namespace string
	kube      kubernetes.Interface
	dynamic   dynamic.Interface
}

// connectCluster builds the clients from kubectl's connection flags
// (--kubeconfig, --context, --server, --token, --as, --request-timeout...),
// with the standard loading rules ($KUBECONFIG, ~/.kube/config, in-cluster);
// tests replace it.
var connectCluster = func(flags genericclioptions.RESTClientGetter) (*clusterClients, error) {
	loader := flags.ToRawKubeConfigLoader()
	config, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	namespace, _, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// A black-holed server must not hang the scan; one page never takes this
	// long. --request-timeout sets another bound.
	if config.Timeout == 0 {
		config.Timeout = time.Minute
	}
	config.QPS, config.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &clusterClients{server: config.Host, namespace: namespace, kube: kube, dynamic: dyn}, nil
}

// now is the time stamped on PolicyReport results; tests fix it.
var now = time.Now

// outputs are the values of "audit -o".
var outputs = []string{"text", "json"}

// NewCommand is "gracekeeper audit". Its RunE returns cli.ErrUsage-wrapped
// errors for bad flags, cli.ErrFindings when --exit-code is set and enforce
// mode would deny a workload, and an error when the scan is incomplete.
func NewCommand() *cobra.Command {
	var opts auditOptions
	var configPath, output, defaultMode string
	var exitCode bool
	connection := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		Use:   "audit [-n NAMESPACE | -A | --selector SELECTOR] [flags]",
		Short: "Scan a cluster for what enforce mode would change or deny",
		Long: `Scans Deployments, StatefulSets, DaemonSets and running Pods, and reports what
enforce mode would change or deny, with each namespace's mode. Nothing in the
cluster is changed (--write-reports writes policy reports, nothing else).
It connects as kubectl does, with kubectl's flags (--kubeconfig, --context,
--server, --token, --as, --request-timeout...).

Exit code: 0 done, 1 enforce would deny a workload (with --exit-code),
2 bad usage, no connection, or an incomplete scan (the report says what could
not be read).`,
		Example: `  # Audit the current namespace
  gracekeeper audit

  # Audit every namespace, as JSON, and fail a pipeline on a denial
  gracekeeper audit -A -o json --exit-code

  # Write a policy report per namespace (OpenReports or wgpolicyk8s.io)
  gracekeeper audit -A --write-reports`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if connection.Namespace != nil {
				opts.namespace = *connection.Namespace
			}
			if err := cli.ValidateRequestTimeout(*connection.Timeout); err != nil {
				return err
			}
			return run(cmd.Context(), connection, opts, configPath, output, defaultMode, exitCode, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.SetFlagErrorFunc(cli.FlagError)
	fs := cmd.Flags()
	connection.AddFlags(fs)
	fs.BoolVarP(&opts.allNamespaces, "all-namespaces", "A", false, "scan every namespace")
	fs.StringVar(&opts.selector, "selector", "", "scan the namespaces whose labels match this selector, e.g. team=shop (implies -A)")
	fs.StringVar(&configPath, "config", "", "policy configuration file, as the webhook's (default: built-in defaults)")
	fs.StringVarP(&output, "output", "o", outputs[0], "output format: text or json")
	fs.BoolVar(&exitCode, "exit-code", false, "exit 1 when enforce mode would deny a workload")
	fs.BoolVar(&opts.writeReports, "write-reports", false, "create or update one policy report named gracekeeper per namespace: openreports.io/v1alpha1 Report where that API is served, else wgpolicyk8s.io/v1alpha2 PolicyReport")
	fs.StringVar(&opts.scope, "scope", "optIn", "without installed webhook configurations: optIn (only labelled namespaces are covered) or cluster")
	fs.StringVar(&defaultMode, "default-mode", "enforce", "without installed webhook configurations and with --scope cluster: the mode of unlabelled namespaces, enforce or audit")
	fs.StringVar(&opts.webhookName, "webhook-name", "gracekeeper", "name of the webhook configurations to read modes from, when several installs exist")
	_ = cmd.RegisterFlagCompletionFunc("output", cli.CompleteValues(outputs...))
	_ = cmd.RegisterFlagCompletionFunc("scope", cli.CompleteValues("optIn", "cluster"))
	_ = cmd.RegisterFlagCompletionFunc("default-mode", cli.CompleteValues("enforce", "audit"))
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	return cmd
}

func run(ctx context.Context, connection *genericclioptions.ConfigFlags, opts auditOptions, configPath, output, defaultMode string,
	exitCode bool, stdout, stderr io.Writer) error {
	if err := opts.validate(output, defaultMode); err != nil {
		return err
	}
	cfg, err := v1alpha1.Load(configPath)
	if err != nil {
		return fmt.Errorf("%w: --config: %w", cli.ErrUsage, err)
	}
	clients, err := connectCluster(connection)
	if err != nil {
		return err
	}
	if opts.namespace == "" && !opts.allNamespaces {
		opts.namespace = clients.namespace
	}

	var progress *progressLine
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		progress = newProgressLine(f)
	}
	report, err := scanCluster(ctx, clients, cfg, opts, progress)
	if err != nil {
		return err
	}
	if opts.writeReports {
		writePolicyReports(ctx, clients, report, now())
	}

	if output == "json" {
		if err := cli.WriteJSON(stdout, report); err != nil {
			return err
		}
	} else {
		printAudit(stdout, report)
	}
	switch {
	case len(report.Problems) > 0:
		return fmt.Errorf("the report is incomplete: %s failed, see the report", cli.Plural(len(report.Problems), "request"))
	case exitCode && report.Summary.Denied > 0:
		return cli.ErrFindings
	}
	return nil
}

// validate checks the flag values: usage errors that name the flag.
func (o *auditOptions) validate(output, defaultMode string) error {
	if err := cli.OneOf("output", output, outputs...); err != nil {
		return err
	}
	if o.namespace != "" && (o.allNamespaces || o.selector != "") {
		return fmt.Errorf("%w: -n names one namespace; drop it to use -A or --selector", cli.ErrUsage)
	}
	if o.selector != "" {
		if _, err := labels.Parse(o.selector); err != nil {
			return fmt.Errorf("%w: --selector: %v", cli.ErrUsage, err)
		}
		o.allNamespaces = true
	}
	if err := cli.OneOf("scope", o.scope, "optIn", "cluster"); err != nil {
		return err
	}
	if err := cli.OneOf("default-mode", defaultMode, string(policies.ModeEnforce), string(policies.ModeAudit)); err != nil {
		return err
	}
	o.defaultMode = policies.Mode(defaultMode)
	return nil
}

// progressLine shows how far a long scan got, on a terminal only: redirected
// output and CI logs stay clean.
type progressLine struct {
	w             *os.File
	started, last time.Time
	shown         bool
}

// progressDelay keeps quick scans silent; progressEvery limits redraws.
const (
	progressDelay = time.Second
	progressEvery = 200 * time.Millisecond
)

func newProgressLine(w *os.File) *progressLine {
	return &progressLine{w: w, started: time.Now()}
}

// update redraws the line with counts, at most every progressEvery.
func (p *progressLine) update(counts func() string) {
	if p == nil {
		return
	}
	t := time.Now()
	if t.Sub(p.started) < progressDelay || t.Sub(p.last) < progressEvery {
		return
	}
	p.last, p.shown = t, true
	fmt.Fprintf(p.w, "\r\033[Kscanning: %s", counts())
}

// done clears the line, so the report starts on a clean terminal.
func (p *progressLine) done() {
	if p != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
