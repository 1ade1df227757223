// Package devcerts is "gracekeeper certs generate": a development CA and a
// serving certificate signed by it, for a webhook outside cert-manager.
package devcerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
)

const devCACommonName = "gracekeeper development CA"

const certsUsage = "Usage: gracekeeper certs generate --dir D --host H [--host H...] [--ca-dir C] [--valid-for 8760h]"

// Run runs "gracekeeper certs" with args (the words after it).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, certsUsage)
		return fmt.Errorf("%w: missing subcommand, want generate", cli.ErrUsage)
	}
	switch args[0] {
	case "generate":
		return runCertsGenerate(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stderr, certsUsage)
		return nil
	default:
		return fmt.Errorf("%w: unknown certs subcommand %q, want generate", cli.ErrUsage, args[0])
	}
}

// hostList collects a repeated --host flag.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Type() string { return "host" }

func (h *hostList) Set(host string) error {
	if host == "" {
		return errors.New("host must not be empty")
	}
	*h = append(*h, host)
	return nil
}

func runCertsGenerate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	flags := cli.NewFlagSet("certs generate", "Usage: gracekeeper certs generate --dir D --host H [--host H...] [flags]\n\n"+
		"Writes ca.crt, tls.crt and tls.key into D. The CA comes from --ca-dir (default D)\n"+
		"when it holds ca.crt and ca.key, so reissuing keeps the CA that clients trust;\n"+
		"otherwise a new CA is created there.", stderr)
	var hosts hostList
	dir := flags.String("dir", "", "directory for ca.crt, tls.crt and tls.key (required)")
	caDir := flags.String("ca-dir", "", "directory holding or receiving ca.crt and ca.key (default --dir)")
	validFor := flags.Duration("valid-for", 365*24*time.Hour, "validity of the serving certificate")
	caValidFor := flags.Duration("ca-valid-for", 10*365*24*time.Hour, "validity of a newly created CA")
	flags.Var(&hosts, "host", "DNS name or IP address for the certificate, repeatable (at least one)")
	if err := cli.ParseFlags(flags, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return fmt.Errorf("%w: --dir is required", cli.ErrUsage)
	case len(hosts) == 0:
		return fmt.Errorf("%w: at least one --host is required", cli.ErrUsage)
	}
	if err := cmp.Or(cli.Positive("valid-for", *validFor), cli.Positive("ca-valid-for", *caValidFor)); err != nil {
		return err
	}
	if *caDir == "" {
		*caDir = *dir
	}

	ca, created, err := loadOrCreateCA(*caDir, *caValidFor)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.Issue(hosts, *validFor)
	if err != nil {
		return err
	}
	if err := certs.WriteServing(*dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		return err
	}
	origin := "reused the CA in"
	if created {
		origin = "created a CA in"
	}
	_, err = fmt.Fprintf(stdout, "%s %s; wrote %s, %s and %s in %s for %s\n",
		origin, *caDir, certs.CACertFile, certs.CertFile, certs.KeyFile, *dir, hosts.String())
	return err
}

// loadOrCreateCA reuses the CA in dir when both of its files exist, and
// creates one when neither does. A lone file is an error rather than
// something to overwrite: it may be the half of a CA that clients trust.
func loadOrCreateCA(dir string, validFor time.Duration) (ca *certs.CA, created bool, err error) {
	certExists, err := fileExists(filepath.Join(dir, certs.CACertFile))
	if err != nil {
		return nil, false, err
	}
	keyExists, err := fileExists(filepath.Join(dir, certs.CAKeyFile))
	if err != nil {
		return nil, false, err
	}
	switch {
	case certExists && keyExists:
		ca, err := certs.LoadCA(dir)
		return ca, false, err
	case certExists || keyExists:
		return nil, false, fmt.Errorf("CA in %s is incomplete: need both %s and %s, or neither to create one",
			dir, certs.CACertFile, certs.CAKeyFile)
	}
	if ca, err = certs.GenerateCA(devCACommonName, validFor); err != nil {
		return nil, false, err
	}
	if err := ca.Write(dir); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("check %s: %w", path, err)
	}
}
