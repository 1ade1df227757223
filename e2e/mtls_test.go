//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/certs"
)

// With --client-ca-file, the webhook serves the API server, which presents
// the client certificate of its AdmissionConfiguration's kubeConfigFile, and
// refuses any other caller.
func TestMutualTLSServesTheAPIServerAndRefusesOtherCallers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// StartWebhook returns once the API server's calls are answered.
	if err := env.cluster.StartWebhook(ctx, env.binary, nil, "--client-ca-file="+env.cluster.WebhookClientCA); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.cluster.StartWebhook(context.Background(), env.binary, nil); err != nil {
			t.Fatal(err)
		}
	}()

	t.Run("a call from the API server is served", func(t *testing.T) {
		_, err := env.cluster.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "mtls-probe", Labels: map[string]string{"gracekeeper.io/mode": "enforced"}},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), "denied the request") || !strings.Contains(err.Error(), "mode-label") {
			t.Errorf("a mistyped mode label = %v, want gracekeeper's mode-label denial", err)
		}
	})

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(env.cluster.WebhookTLSDir(), certs.CACertFile))))
	otherCA, err := certs.GenerateCA("not the API server's CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, otherKey, err := otherCA.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tls.X509KeyPair(otherPEM, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, certificates := range map[string][]tls.Certificate{
		"a call without a client certificate is refused":       nil,
		"a call with a certificate from another CA is refused": {other},
	} {
		t.Run(name, func(t *testing.T) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certificates},
			}}
			defer client.CloseIdleConnections()
			resp, err := client.Post(env.cluster.WebhookURL()+"/validate/namespaces", "application/json", bytes.NewReader([]byte(`{}`)))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("answered %s, want the TLS handshake refused", resp.Status)
			}
			if !strings.Contains(err.Error(), "tls: ") {
				t.Errorf("error %v, want a TLS alert", err)
			}
		})
	}
}
