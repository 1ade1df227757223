// Package clusteraudit is "gracekeeper audit": it reads a cluster's
// workloads, running pods and webhook configurations, judges each workload as
// a CREATE in enforce mode with the same engine the webhook runs, and reports
// per namespace, as text, JSON or PolicyReports. It changes nothing in the
// cluster but the PolicyReports it is asked to write.
package clusteraudit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/labels"
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

// connectCluster builds the clients from a kubeconfig with the standard
// loading rules ($KUBECONFIG, ~/.kube/config, in-cluster); tests replace it.
var connectCluster = func(kubeconfig, kubeContext string) (*clusterClients, error) {
	loader := cli.KubeClientConfig(kubeconfig, kubeContext)
	config, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	namespace, _, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// A black-holed server must not hang the scan; one page never takes this long.
	config.Timeout = time.Minute
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

// Run runs "gracekeeper audit" with args (the flags after the subcommand). It
// returns cli.ErrUsage-wrapped errors for bad flags, cli.ErrFindings when
// --exit-code is set and enforce mode would deny a workload, and an error when
// the scan is incomplete.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts auditOptions
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&opts.namespace, "n", "", "the namespace to scan (default: the context's namespace)")
	fs.StringVar(&opts.namespace, "namespace", "", "same as -n")
	fs.BoolVar(&opts.allNamespaces, "A", false, "scan every namespace")
	fs.BoolVar(&opts.allNamespaces, "all-namespaces", false, "same as -A")
	fs.StringVar(&opts.selector, "selector", "", "scan the namespaces whose labels match this selector, e.g. team=shop (implies -A)")
	configPath := fs.String("config", "", "policy configuration file, as the webhook's (default: built-in defaults)")
	output := fs.String("o", "text", "output format: text or json")
	exitCode := fs.Bool("exit-code", false, "exit 1 when enforce mode would deny a workload")
	fs.BoolVar(&opts.writeReports, "write-reports", false, "create or update one wgpolicyk8s.io/v1alpha2 PolicyReport named gracekeeper per namespace")
	fs.StringVar(&opts.scope, "scope", "optIn", "without installed webhook configurations: optIn (only labelled namespaces are covered) or cluster")
	defaultMode := fs.String("default-mode", "enforce", "without installed webhook configurations and with --scope cluster: the mode of unlabelled namespaces, enforce or audit")
	fs.StringVar(&opts.webhookName, "webhook-name", "gracekeeper", "name of the webhook configurations to read modes from, when several installs exist")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: gracekeeper audit [-n NS | -A | --selector SEL] [flags]

Scans Deployments, StatefulSets, DaemonSets and running Pods, and reports what
enforce mode would change or deny, with each namespace's mode. Nothing in the
cluster is changed (--write-reports writes PolicyReports, nothing else).
Exit code: 0 done, 1 enforce would deny a workload (with --exit-code),
2 bad usage, no connection, or an incomplete scan (the report says what could
not be read).

Flags:`)
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := opts.validate(*output, *defaultMode); err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	cfg, err := v1alpha1.Load(*configPath)
	if err != nil {
		return err
	}
	clients, err := connectCluster(*kubeconfig, *kubeContext)
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

	if *output == "json" {
		if err := cli.WriteJSON(stdout, report); err != nil {
			return err
		}
	} else {
		printAudit(stdout, report)
	}
	switch {
	case len(report.Problems) > 0:
		return fmt.Errorf("the report is incomplete: %s failed, see the report", cli.Plural(len(report.Problems), "request"))
	case *exitCode && report.Summary.Denied > 0:
		return cli.ErrFindings
	}
	return nil
}

func (o *auditOptions) validate(output, defaultMode string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("-o must be text or json, not %q", output)
	}
	if o.namespace != "" && (o.allNamespaces || o.selector != "") {
		return errors.New("-n names one namespace; drop it to use -A or --selector")
	}
	if o.selector != "" {
		if _, err := labels.Parse(o.selector); err != nil {
			return fmt.Errorf("--selector: %v", err)
		}
		o.allNamespaces = true
	}
	if o.scope != "optIn" && o.scope != "cluster" {
		return fmt.Errorf("--scope must be optIn or cluster, not %q", o.scope)
	}
	switch m := policies.Mode(defaultMode); m {
	case policies.ModeEnforce, policies.ModeAudit:
		o.defaultMode = m
	default:
		return fmt.Errorf("--default-mode must be enforce or audit, not %q", defaultMode)
	}
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
