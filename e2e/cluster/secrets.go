package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gracekeeper/gracekeeper/certs"
)

// secrets are the files the control plane authenticates with.
type secrets struct {
	caPEM                   []byte // the CA of the API server's certificate
	caCert                  string // caPEM's file, for --root-ca-file
	servingCert, servingKey string
	saKey, saPub            string // service-account token signing pair
	tokens                  string // the static token file
	adminToken, kwokToken   string
	// admissionConfig is the API server's AdmissionConfiguration: its
	// webhook plugins present a client certificate from webhookClientCA
	// (webhook.kubeconfig), which a webhook requiring mutual TLS verifies.
	admissionConfig, webhookClientCA string
	// nodeToken and proxyToken authenticate a real node's kubelet and
	// kube-proxy; they are in the token file only for Options.RealNode.
	nodeToken, proxyToken string
}

func writeSecrets(dir, realNode string) (*secrets, error) {
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	s := &secrets{
		servingCert: filepath.Join(pki, "apiserver.crt"),
		servingKey:  filepath.Join(pki, "apiserver.key"),
		saKey:       filepath.Join(pki, "sa.key"),
		saPub:       filepath.Join(pki, "sa.pub"),
		caCert:      filepath.Join(pki, "ca.crt"),
		tokens:      filepath.Join(pki, "tokens.csv"),
		adminToken:  randomToken(),
		kwokToken:   randomToken(),

		admissionConfig: filepath.Join(pki, "admission.yaml"),
		webhookClientCA: filepath.Join(pki, "webhook-client-ca.crt"),
		nodeToken:       randomToken(),
		proxyToken:      randomToken(),
	}
	ca, err := certs.GenerateCA("gracekeeper local cluster CA", 10*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	names := []string{"127.0.0.1", "localhost"}
	if realNode != "" {
		// Pods call the API server at the kubernetes Service, as on any
		// cluster (see RealNodeAPIServerIP).
		names = append(names, RealNodeAPIServerIP, "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	}
	certPEM, keyPEM, err := ca.Issue(names, 10*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("issue API server certificate: %w", err)
	}
	s.caPEM = ca.CertPEM
	saKey, saPub, err := signingKeyPair()
	if err != nil {
		return nil, err
	}
	if err := writeWebhookClientAuth(s, pki); err != nil {
		return nil, err
	}
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,system:node:%s,kwok,\"system:nodes\"\n",
		s.adminToken, s.kwokToken, NodeName)
	if realNode != "" {
		// The users a kubelet and kube-proxy have on any cluster: the Node
		// authorizer and the bootstrap RBAC policy know them by these names.
		tokens += fmt.Sprintf("%s,system:node:%s,%s,\"system:nodes\"\n%s,system:kube-proxy,kube-proxy\n",
			s.nodeToken, realNode, realNode, s.proxyToken)
	}
	for path, data := range map[string][]byte{
		s.servingCert: certPEM,
		s.servingKey:  keyPEM,
		s.saKey:       saKey,
		s.saPub:       saPub,
		s.tokens:      []byte(tokens),
		s.caCert:      ca.CertPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return s, nil
}

// writeWebhookClientAuth writes a client CA, the kubeconfig holding a client
// certificate it signed, and the AdmissionConfiguration that points both
// webhook admission plugins at that kubeconfig.
func writeWebhookClientAuth(s *secrets, pki string) error {
	ca, err := certs.GenerateCA("gracekeeper local cluster webhook client CA", 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.IssueClient("kube-apiserver-webhook-client", 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	config := clientcmdapi.NewConfig()
	// The user's name is the webhook's host; every webhook here is
	// gracekeeper on loopback, on a port picked later, so "*" names them all.
	config.AuthInfos["*"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	kubeconfig := filepath.Join(pki, "webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*config, kubeconfig); err != nil {
		return fmt.Errorf("write webhook client kubeconfig: %w", err)
	}
	var admission strings.Builder
	admission.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n")
	for _, plugin := range []string{"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"} {
		fmt.Fprintf(&admission, "  - name: %s\n    configuration:\n      apiVersion: apiserver.config.k8s.io/v1\n      kind: WebhookAdmissionConfiguration\n      kubeConfigFile: %q\n", plugin, kubeconfig)
	}
	for path, data := range map[string][]byte{s.webhookClientCA: ca.CertPEM, s.admissionConfig: []byte(admission.String())} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails, per crypto/rand
	return hex.EncodeToString(b)
}

// signingKeyPair returns the key that signs service-account tokens and its
// public half. ECDSA (ES256) is quick to generate, unlike RSA.
func signingKeyPair() (keyPEM, pubPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate service-account key: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encode service-account public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

func writeKubeconfig(path, server string, caPEM []byte, user, token string) error {
	const name = "gracekeeper-local"
	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	config.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	config.CurrentContext = name
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// httpOK reports whether a GET of url answers 200.
func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
