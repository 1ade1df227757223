package devcerts

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
)

// loadServingDir verifies the pair in dir against dir/ca.crt for host and
// returns the leaf and the CA certificate bytes.
func loadServingDir(t *testing.T, dir, host string) (*x509.Certificate, []byte) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatalf("load serving pair from %s: %v", dir, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s/ca.crt", dir)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
		t.Errorf("certificate in %s is not trusted for %s by its ca.crt: %v", dir, host, err)
	}
	return pair.Leaf, caPEM
}

func runCertsOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := Run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("certs %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func TestCertsGenerateWritesATrustedServingPair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	out := runCertsOK(t, "generate", "--dir", dir, "--host", "gracekeeper.gracekeeper-system.svc", "--host", "127.0.0.1")

	if !strings.Contains(out, "created a CA in "+dir) {
		t.Errorf("output %q does not say a CA was created in %s", out, dir)
	}
	loadServingDir(t, dir, "gracekeeper.gracekeeper-system.svc")
	loadServingDir(t, dir, "127.0.0.1")
	for _, name := range []string{"tls.key", "ca.key"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, perm)
		}
	}
}

func TestCertsGenerateReissuesFromTheSameCA(t *testing.T) {
	caDir := t.TempDir()
	otherDir := filepath.Join(t.TempDir(), "other")
	runCertsOK(t, "generate", "--dir", caDir, "--host", "localhost")
	firstLeaf, firstCA := loadServingDir(t, caDir, "localhost")

	tests := []struct {
		name string
		args []string
		dir  string
	}{
		{"Generating again into the same directory keeps its CA.",
			[]string{"generate", "--dir", caDir, "--host", "localhost"}, caDir},
		{"Generating into another directory with --ca-dir uses that CA.",
			[]string{"generate", "--dir", otherDir, "--ca-dir", caDir, "--host", "localhost"}, otherDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runCertsOK(t, tt.args...)
			if !strings.Contains(out, "reused the CA in "+caDir) {
				t.Errorf("output %q does not say the CA in %s was reused", out, caDir)
			}
			leaf, caPEM := loadServingDir(t, tt.dir, "localhost")
			if !bytes.Equal(caPEM, firstCA) {
				t.Errorf("%s/ca.crt changed, want the original CA", tt.dir)
			}
			if leaf.SerialNumber.Cmp(firstLeaf.SerialNumber) == 0 {
				t.Errorf("serial %x was not reissued", leaf.SerialNumber)
			}
		})
	}
}

func TestCertsRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"No subcommand is a usage error.", nil, "missing subcommand"},
		{"An unknown subcommand is a usage error.", []string{"rotate"}, `unknown certs subcommand "rotate"`},
		{"Generating without a host is a usage error.", []string{"generate", "--dir", dir}, "at least one --host"},
		{"Generating without a directory is a usage error.", []string{"generate", "--host", "localhost"}, "--dir is required"},
		{"An empty host is a usage error.", []string{"generate", "--dir", dir, "--host", ""}, "host must not be empty"},
		{"A validity that is not a duration is a usage error.",
			[]string{"generate", "--dir", dir, "--host", "localhost", "--valid-for", "a year"}, "invalid argument"},
		{"A negative validity is a usage error.",
			[]string{"generate", "--dir", dir, "--host", "localhost", "--valid-for", "-1h"}, "must be positive"},
		{"An unknown flag is a usage error.", []string{"generate", "--dir", dir, "--hosts", "localhost"}, "unknown flag: --hosts"},
		{"A stray argument is a usage error.", []string{"generate", "--dir", dir, "--host", "localhost", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(t.Context(), tt.args, &stdout, &stderr)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want a usage error containing %q", err, tt.wantErr)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad arguments wrote files: %v", entries)
	}
}

func TestCertsGenerateRefusesToOverwriteHalfACA(t *testing.T) {
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "ca.crt"), []byte("a CA someone trusts"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := Run(t.Context(), []string{"generate", "--dir", t.TempDir(), "--ca-dir", caDir, "--host", "localhost"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("error = %v, want the CA reported incomplete", err)
	}
	if got, _ := os.ReadFile(filepath.Join(caDir, "ca.crt")); string(got) != "a CA someone trusts" {
		t.Errorf("ca.crt was overwritten with %q", got)
	}
}
