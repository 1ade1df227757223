// Package cli holds what every gracekeeper subcommand shares: the errors that
// decide the exit code, flag parsing and validation, the version, and how the reports
// of check and audit print findings.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

var (
	// ErrUsage marks bad flags or input: exit code 2.
	ErrUsage = errors.New("usage error")
	// ErrFindings marks a run whose findings fail it (check, audit --exit-code): exit code 1.
	ErrFindings = errors.New("findings")
	// ErrHelp marks a run that only printed its help: exit code 0.
	ErrHelp = errors.New("help shown")
)

// ParseFlags parses a subcommand's flags, which take no positional arguments.
// It returns ErrHelp for -h, and ErrUsage-wrapped errors for bad flags.
func ParseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ErrHelp
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return nil
}

// NewFlagSet is the flag set of a subcommand that parses its own flags
// (serve, certs generate, cleanup, selftest): its errors and help go to
// stderr, the help being usage, a blank line, "Flags:" and each flag.
func NewFlagSet(name, usage string, stderr io.Writer) *pflag.FlagSet {
	flags := pflag.NewFlagSet(name, pflag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(stderr, usage+"\n\nFlags:")
		flags.PrintDefaults()
	}
	return flags
}

// ConnectionFlags adds kubectl's connection flags (--kubeconfig, --context,
// --server...) to flags; namespaced keeps -n/--namespace among them, which a
// command that only touches cluster-scoped objects leaves out.
func ConnectionFlags(flags *pflag.FlagSet, namespaced bool) *genericclioptions.ConfigFlags {
	connection := genericclioptions.NewConfigFlags(false)
	if !namespaced {
		connection.Namespace = nil
	}
	connection.AddFlags(flags)
	return connection
}

// Positive is a usage error naming the flag when its value is not above 0.
func Positive[T int64 | time.Duration](flag string, value T) error {
	if value > 0 {
		return nil
	}
	return fmt.Errorf("%w: --%s %v must be positive", ErrUsage, flag, value)
}

// NotNegative is a usage error naming the flag when its value is below 0.
func NotNegative[T int64 | time.Duration](flag string, value T) error {
	if value >= 0 {
		return nil
	}
	return fmt.Errorf("%w: --%s %v must not be negative", ErrUsage, flag, value)
}

// FlagError makes cobra's flag parsing errors usage errors (exit code 2).
func FlagError(_ *cobra.Command, err error) error {
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

// OneOf checks a flag's value against its allowed values: a usage error
// naming the flag otherwise.
func OneOf(flag, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	return fmt.Errorf("%w: --%s must be %s, not %q", ErrUsage, flag, orList(allowed), value)
}

// orList is "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// CompleteValues completes a flag with a fixed set of values.
func CompleteValues(values ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// WriteJSON writes v as the indented JSON of "-o json".
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ValidateRequestTimeout checks kubectl's --request-timeout as kubectl reads
// it: a duration (1s, 2m) or whole seconds; 0 means no timeout.
func ValidateRequestTimeout(v string) error {
	if v == "" || v == "0" {
		return nil
	}
	if _, err := strconv.Atoi(v); err == nil {
		return nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return nil
	}
	return fmt.Errorf("%w: --request-timeout %q: want a duration such as 30s or 2m, or whole seconds", ErrUsage, v)
}

// NoArgs refuses positional arguments with a usage error that names them.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments, got %q", ErrUsage, cmd.CommandPath(), args)
	}
	return nil
}

// Clientset builds a typed client from kubectl's connection flags
// (--kubeconfig, --context, --server..., then $KUBECONFIG, ~/.kube/config and
// the in-cluster service account, as kubectl loads them).
func Clientset(connection genericclioptions.RESTClientGetter) (kubernetes.Interface, error) {
	config, err := connection.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return client, nil
}
