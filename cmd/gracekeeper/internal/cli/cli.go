// Package cli holds what every gracekeeper subcommand shares: the errors that
// decide the exit code, flag parsing, kubeconfig loading, and how the reports
// of check and audit print findings.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"k8s.io/client-go/tools/clientcmd"
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
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return nil
}

// KubeClientConfig loads client configuration by the standard rules: the named
// kubeconfig, else $KUBECONFIG or ~/.kube/config, and in a pod its service account.
func KubeClientConfig(kubeconfig, kubeContext string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
}

// WriteJSON writes v as the indented JSON of "-o json".
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
