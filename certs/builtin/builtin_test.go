package builtin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gracekeeper/gracekeeper/certs"
)

func TestWritePairIsWhatTheReloaderServes(t *testing.T) {
	ca, err := certs.GenerateCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"gracekeeper.gracekeeper-system.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := map[string][]byte{
		certs.CACertFile: ca.CertPEM, certs.CertFile: certPEM, certs.KeyFile: keyPEM,
		"ca.key": []byte("the CA key, which must stay in the Secret"),
	}

	// A Secret the rotator has not filled yet writes nothing.
	if err := writePair(dir, map[string][]byte{certs.CACertFile: ca.CertPEM}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a partial Secret wrote %d files, want none", len(entries))
	}

	if err := writePair(dir, data); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); !os.IsNotExist(err) {
		t.Fatalf("the CA key was written to the certificate directory (stat: %v)", err)
	}
	reloader, err := certs.NewReloader(dir, nil, certs.WithServedNames("gracekeeper.gracekeeper-system.svc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reloader.Ready(); err != nil {
		t.Fatalf("the written pair is not served: %v", err)
	}

	// The same Secret again (each resync) leaves the files alone.
	before, err := os.Stat(filepath.Join(dir, certs.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := writePair(dir, data); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(dir, certs.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("an unchanged Secret replaced tls.crt")
	}
}

func TestRenewalTiming(t *testing.T) {
	for _, tc := range []struct {
		validity, lookahead, check time.Duration
	}{
		// cert-controller's own defaults are 90 days and 12 hours.
		{DefaultValidity, DefaultValidity / 4, maxCheckInterval},
		// A short test validity is renewed after 90 s, checked every 7.5 s.
		{2 * time.Minute, 30 * time.Second, 7500 * time.Millisecond},
		{4 * time.Second, time.Second, time.Second},
	} {
		cfg := Config{Validity: tc.validity}
		if got := cfg.lookahead(); got != tc.lookahead {
			t.Errorf("validity %s: renewed %s before expiry, want %s", tc.validity, got, tc.lookahead)
		}
		if got := cfg.checkInterval(); got != tc.check {
			t.Errorf("validity %s: checked every %s, want %s", tc.validity, got, tc.check)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	valid := Config{
		Secret: types.NamespacedName{Namespace: "gracekeeper-system", Name: "gracekeeper-tls"}, Dir: "/tls",
		DNSNames: []string{"gracekeeper.gracekeeper-system.svc"}, WebhookConfiguration: "gracekeeper",
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no Secret namespace":       {func(c *Config) { c.Secret.Namespace = "" }, "namespace and name are required"},
		"no directory":              {func(c *Config) { c.Dir = "" }, "directory is required"},
		"no DNS name":               {func(c *Config) { c.DNSNames = nil }, "DNS name"},
		"no webhook configuration":  {func(c *Config) { c.WebhookConfiguration = "" }, "webhook configuration name is required"},
		"a negative validity":       {func(c *Config) { c.Validity = -time.Hour }, "must not be negative"},
		"the defaults of the valid": {func(*Config) {}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := valid
			tc.edit(&cfg)
			err := cfg.defaults()
			if tc.want == "" {
				if err != nil || cfg.Validity != DefaultValidity || cfg.Logger == nil {
					t.Fatalf("defaults() = %v, validity %s", err, cfg.Validity)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("defaults() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	got, err := ParseSecret("gracekeeper-system/gracekeeper-tls")
	if err != nil || got != (types.NamespacedName{Namespace: "gracekeeper-system", Name: "gracekeeper-tls"}) {
		t.Fatalf("ParseSecret = %v, %v", got, err)
	}
	for _, bad := range []string{"", "gracekeeper-tls", "/gracekeeper-tls", "gracekeeper-system/", "a/b/c"} {
		if _, err := ParseSecret(bad); err == nil || !strings.Contains(err.Error(), "want namespace/name") {
			t.Errorf("ParseSecret(%q) = %v, want an error saying namespace/name", bad, err)
		}
	}
}
