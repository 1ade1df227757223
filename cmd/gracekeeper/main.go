// Command gracekeeper is the admission webhook, the offline manifest check and
// the cluster scan, all served by the same policy engine. Installed as
// kubectl-gracekeeper on the PATH it is also the kubectl plugin
// "kubectl gracekeeper".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/check"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cleanup"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/clusteraudit"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/devcerts"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/selftest"
)

// version is stamped at build time with -ldflags "-X main.version=..."; left
// empty, the version comes from the build information (cli.Version).
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line and returns the exit code: 0 done, 1 findings
// that fail the run, 2 bad usage or input.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cli.SetVersion(version)
	root := newRootCommand(pluginName(os.Args[0]))
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil, errors.Is(err, cli.ErrHelp):
		return 0
	case errors.Is(err, cli.ErrFindings):
		return 1
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	if errors.Is(err, cli.ErrUsage) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return 2
}

// pluginName is "kubectl gracekeeper" when the binary runs as the kubectl
// plugin (kubectl runs kubectl-gracekeeper), else "".
func pluginName(argv0 string) string {
	if strings.HasPrefix(filepath.Base(argv0), "kubectl-") {
		return "kubectl gracekeeper"
	}
	return ""
}

func newRootCommand(displayName string) *cobra.Command {
	root := &cobra.Command{
		Use:   "gracekeeper",
		Short: "Graceful pod restarts and updates by default",
		Long: `gracekeeper makes pod restarts and updates graceful by default: it adds preStop
hooks, a sufficient terminationGracePeriodSeconds and safe rolling-update
settings, and rejects delete-and-recreate patterns, naming the graceful
alternative. The same rules run in the webhook (serve), on manifests (check)
and on a live cluster (audit).`,
		Version:       cli.Version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(cli.FlagError)
	root.AddCommand(check.NewCommand(), clusteraudit.NewCommand(),
		wrap("serve", "Serve the admission webhook", runServe),
		wrap("certs", "Generate a development CA and serving certificate", devcerts.Run),
		wrap("cleanup", "Delete the webhook configurations (the chart's pre-delete hook)", cleanup.Run),
		wrap("selftest", "Dry-run a Pod in an enforce namespace and check the hook came back (the chart's helm test)", selftest.Run),
		&cobra.Command{Use: "version", Short: "Print the version", Args: cli.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), cli.Version())
				return err
			}})
	if displayName != "" {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: displayName}
		for _, c := range root.Commands() {
			c.Example = exampleCommand.ReplaceAllString(c.Example, "${1}"+displayName+" ")
		}
	}
	return root
}

// exampleCommand matches the command name where an example runs it: at the
// start of a line or after a pipe.
var exampleCommand = regexp.MustCompile(`(?m)(^\s*|\|\s*)gracekeeper `)

// wrap makes a command of one that parses its own flags (pflag, so --flag
// value and --flag=value alike); its help is its own -h.
func wrap(name, short string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) *cobra.Command {
	cmd := &cobra.Command{Use: name + " [flags]", Short: short, DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}}
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		_ = run(ctx, []string{"--help"}, cmd.OutOrStdout(), cmd.OutOrStdout())
	})
	return cmd
}
