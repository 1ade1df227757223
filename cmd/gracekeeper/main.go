// Command gracekeeper is the admission webhook, the offline manifest check and
// the cluster scan, all served by the same policy engine.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/clusteraudit"
)

// command runs one subcommand. It returns cli.ErrUsage-wrapped errors for bad
// arguments, cli.ErrFindings when the command ran but the result is a failure.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"cleanup":  {"delete the webhook configurations (the chart's pre-delete hook)", runCleanup},
	"version":  {"print the version", runVersion},
	"audit":    {"scan a cluster for what enforce mode would change or deny", clusteraudit.Run},
	"check":    {"evaluate manifests offline, as in CI; --fix writes the patches", runCheck},
	"certs":    {"generate a development CA and serving certificate", runCerts},
	"serve":    {"serve the admission webhook", runServe},
	"selftest": {"dry-run a Pod in an enforce namespace and check the hook came back (the chart's helm test)", runSelftest},
}

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gracekeeper: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, cli.ErrHelp):
		return 0
	case errors.Is(err, cli.ErrFindings):
		return 1
	default:
		fmt.Fprintf(stderr, "gracekeeper %s: %v\n", args[0], err)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: gracekeeper <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'gracekeeper <command> -h' for a command's flags.")
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintln(stdout, version)
	return err
}
