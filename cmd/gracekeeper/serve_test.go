package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
)

func TestServeRejectsBadFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"An unknown flag":                            {[]string{"--port", "1"}, "unknown flag: --port"},
		"An unknown log format":                      {[]string{"--log-format", "xml"}, `--log-format "xml": want json or text`},
		"An unknown log level":                       {[]string{"--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
		"A negative drain delay":                     {[]string{"--drain-delay", "-1s"}, "--drain-delay -1s must not be negative"},
		"A zero shutdown timeout":                    {[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout 0s must be positive"},
		"An argument that is not a flag":             {[]string{"now"}, `unexpected arguments ["now"]`},
		"A negative in-flight budget":                {[]string{"--max-inflight-bytes", "-1"}, "--max-inflight-bytes -1 must not be negative"},
		"A client CA in no directory":                {[]string{"--client-ca-file", "/no/such/dir/ca.crt"}, "--client-ca-file: client CA file /no/such/dir/ca.crt: its directory does not exist"},
		"A certificate Secret without its namespace": {[]string{"--cert-secret", "gracekeeper-tls"}, `--cert-secret: the Secret "gracekeeper-tls": want namespace/name`},
		"A certificate Secret without webhook configurations": {[]string{"--cert-secret", "gk/gracekeeper-tls", "--tls-server-names", "gracekeeper.gk.svc"},
			"--cert-secret needs --webhook-configuration"},
		"A certificate Secret without names": {[]string{"--cert-secret", "gk/gracekeeper-tls", "--webhook-configuration", "gracekeeper"},
			"--cert-secret needs --tls-server-names"},
		"A zero certificate validity": {[]string{"--cert-secret", "gk/gracekeeper-tls", "--webhook-configuration", "gracekeeper", "--tls-server-names", "gracekeeper.gk.svc", "--cert-validity", "0s"},
			"--cert-validity 0s must be positive"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := runServe(t.Context(), tt.args, io.Discard, &stderr)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve %q = %v, want a usage error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestServeHelpListsEveryFlag(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--help"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("serve --help exits %d, want 0", code)
	}
	for _, flag := range []string{"-tls-dir", "-listen", "-probe-listen", "-config", "-kubeconfig", "-drain-delay", "-shutdown-timeout", "-log-format", "-log-level", "-client-ca-file", "-tls-server-names", "-max-inflight-bytes", "-cert-secret", "-webhook-configuration", "-cert-validity"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("serve --help does not mention %s:\n%s", flag, stderr.String())
		}
	}
}

func TestServeRefusesAnInvalidConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("preStop: {sleepSecondz: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runServe(t.Context(), []string{"--config", path, "--tls-dir", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "sleepSecondz") {
		t.Errorf("serve with a bad configuration = %v, want an error naming the file and the field", err)
	}
}

func TestServeStartsWhateverDiscoverySays(t *testing.T) {
	apiServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer apiServer.Close()
	reachable := writeKubeconfig(t, apiServer.URL)

	tests := map[string]struct {
		kubeconfig string
		wantLogs   []string
	}{
		"An API server at 1.37 gets native sleep hooks": {
			kubeconfig: reachable,
			wantLogs:   []string{`"msg":"found the API server version","version":"v1.37.2"`, `"preStopHook":"sleep action"`},
		},
		"An unreachable API server is warned about, and exec sleep hooks are used": {
			kubeconfig: filepath.Join(t.TempDir(), "missing-kubeconfig"),
			wantLogs:   []string{`"level":"WARN","msg":"cannot find the API server version`, `"preStopHook":"exec sleep"`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := startServe(t, "--kubeconfig", tt.kubeconfig)
			s.stop(t)
			logs := s.logs
			for _, want := range tt.wantLogs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %s:\n%s", want, logs.String())
				}
			}
		})
	}
}

func ready(probeListen string) bool {
	resp, err := http.Get("http://" + probeListen + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q}}]
users: [{name: test, user: {token: test}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, server)
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveLogs collects the server's logs across its goroutines, and sends the
// bound addresses on serving once the server logs that it serves.
type serveLogs struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	serving chan servingAddrs
}

// servingAddrs are the addresses serve bound: HTTPS reviews and plain-HTTP probes.
type servingAddrs struct{ listen, probeListen string }

func (l *serveLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var line struct {
		Msg         string `json:"msg"`
		Listen      string `json:"listen"`
		ProbeListen string `json:"probeListen"`
	}
	if json.Unmarshal(p, &line) == nil && line.Msg == "serving admission reviews" && l.serving != nil {
		l.serving <- servingAddrs{line.Listen, line.ProbeListen}
	}
	return l.buf.Write(p)
}

func (l *serveLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testServe is `gracekeeper serve` on loopback with a test certificate.
type testServe struct {
	url    string
	client *http.Client
	logs   *serveLogs
	cancel context.CancelFunc
	done   chan error
}

// startServe runs serve with a fresh serving certificate on free loopback
// ports and the given flags, and waits until it is ready.
func startServe(t *testing.T, args ...string) *testServe {
	t.Helper()
	tlsDir := t.TempDir()
	ca, err := certs.GenerateCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteServing(tlsDir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	s := &testServe{logs: &serveLogs{serving: make(chan servingAddrs, 1)}, done: make(chan error, 1),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	go func() {
		s.done <- runServe(ctx, append([]string{"--tls-dir", tlsDir, "--listen", "127.0.0.1:0", "--probe-listen", "127.0.0.1:0",
			"--drain-delay", "0s"}, args...), io.Discard, s.logs)
	}()
	// The ports are bound before the serving line is logged.
	var addrs servingAddrs
	select {
	case addrs = <-s.logs.serving:
	case err := <-s.done:
		t.Fatalf("serve = %v before serving; logs:\n%s", err, s.logs.String())
	}
	if !ready(addrs.probeListen) {
		s.cancel()
		t.Fatalf("not ready once serving; logs:\n%s", s.logs.String())
	}
	s.url = "https://" + addrs.listen
	return s
}

func (s *testServe) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve = %v after a clean shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not return within 10s of its context ending")
	}
}
