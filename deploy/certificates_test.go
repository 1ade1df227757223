// Chart tests: the serving certificate, from cert-manager or provided.

package deploy

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCertManagerChainServesTheWebhook(t *testing.T) {
	const ns = "security"
	objs := render(t, ns, "certificates: {mode: certManager}\n")
	mutating, validating := webhooks(t, objs)
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")
	deployment := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	selfSigned := find[certmanagerv1.Issuer](t, objs, "Issuer", "gracekeeper-selfsigned")
	ca := find[certmanagerv1.Certificate](t, objs, "Certificate", "gracekeeper-ca")
	caIssuer := find[certmanagerv1.Issuer](t, objs, "Issuer", "gracekeeper-ca")
	serving := find[certmanagerv1.Certificate](t, objs, "Certificate", "gracekeeper-tls")

	if selfSigned.Spec.SelfSigned == nil {
		t.Errorf("issuer %s is not selfSigned: %+v", selfSigned.Name, selfSigned.Spec)
	}
	if ca.Spec.IssuerRef.Name != selfSigned.Name || ca.Spec.IssuerRef.Kind != "Issuer" {
		t.Errorf("CA certificate is issued by %+v, want Issuer %s", ca.Spec.IssuerRef, selfSigned.Name)
	}
	if !ca.Spec.IsCA {
		t.Error("CA certificate has isCA false")
	}
	// The CA must outlive everything and keep its key on renewal, or a CA
	// renewal breaks every admission call until the leaf renews.
	if ca.Spec.Duration == nil || ca.Spec.Duration.Duration.Hours() != 87600 {
		t.Errorf("CA duration = %v, want 87600h (10 years)", ca.Spec.Duration)
	}
	if ca.Spec.PrivateKey == nil || ca.Spec.PrivateKey.RotationPolicy != certmanagerv1.RotationPolicyNever || ca.Spec.PrivateKey.Algorithm != certmanagerv1.ECDSAKeyAlgorithm {
		t.Errorf("CA private key = %+v, want ECDSA with rotationPolicy Never", ca.Spec.PrivateKey)
	}
	if caIssuer.Spec.CA == nil || caIssuer.Spec.CA.SecretName != ca.Spec.SecretName {
		t.Errorf("CA issuer = %+v, want it to sign with the CA certificate's secret %s", caIssuer.Spec, ca.Spec.SecretName)
	}
	if serving.Spec.IssuerRef.Name != caIssuer.Name || serving.Spec.IssuerRef.Kind != "Issuer" {
		t.Errorf("serving certificate is issued by %+v, want Issuer %s", serving.Spec.IssuerRef, caIssuer.Name)
	}
	if serving.Spec.IsCA {
		t.Error("serving certificate has isCA true")
	}

	// The API server calls <service>.<namespace>.svc; the other names serve
	// in-cluster clients.
	svc := service.Name + "." + service.Namespace
	wantDNS := []string{service.Name, svc, svc + ".svc", svc + ".svc.cluster.local"}
	if service.Namespace != ns || !reflect.DeepEqual(serving.Spec.DNSNames, wantDNS) {
		t.Errorf("serving dnsNames = %v, want %v", serving.Spec.DNSNames, wantDNS)
	}
	checkTLSVolume(t, deployment, serving.Spec.SecretName)

	// The webhook configurations trust the CA, not the leaf.
	wantInject := ns + "/" + ca.Name
	for _, meta := range []metav1.ObjectMeta{mutating.ObjectMeta, validating.ObjectMeta} {
		if got := meta.Annotations["cert-manager.io/inject-ca-from"]; got != wantInject {
			t.Errorf("%s inject-ca-from = %q, want %q", meta.Name, got, wantInject)
		}
	}
	for _, cc := range clientConfigs(mutating, validating) {
		if len(cc.CABundle) != 0 {
			t.Errorf("a clientConfig has a caBundle %q although cert-manager injects it", cc.CABundle)
		}
	}
}

// checkTLSVolume asserts the serving Secret is mounted as a whole directory
// at the path gracekeeper serve reads.
func checkTLSVolume(t *testing.T, d *appsv1.Deployment, secretName string) {
	t.Helper()
	var volume string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secretName {
			volume = v.Name
		}
	}
	if volume == "" {
		t.Fatalf("no volume of the Deployment mounts secret %s", secretName)
	}
	c := d.Spec.Template.Spec.Containers[0]
	var mountPath string
	for _, m := range c.VolumeMounts {
		if m.Name != volume {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("secret %s is mounted with subPath %q; renewed certificates would never reach the pod", secretName, m.SubPath)
		}
		mountPath = m.MountPath
	}
	if !slices.Contains(c.Args, "--tls-dir="+mountPath) {
		t.Errorf("args %v do not read certificates from the secret's mount %q", c.Args, mountPath)
	}
}

func clientConfigs(m *admissionregistrationv1.MutatingWebhookConfiguration, v *admissionregistrationv1.ValidatingWebhookConfiguration) []admissionregistrationv1.WebhookClientConfig {
	var out []admissionregistrationv1.WebhookClientConfig
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig)
	}
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig)
	}
	return out
}

func TestProvidedCertificatesReplaceCertManager(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	objs := render(t, "gracekeeper", fmt.Sprintf("certificates: {mode: provided, provided: {secretName: my-tls, caBundle: %s}}\n", base64.StdEncoding.EncodeToString(ca)))
	for _, obj := range objs {
		if obj.GroupVersionKind().Group == certmanagerv1.SchemeGroupVersion.Group {
			t.Errorf("%s %s rendered although certificates are provided", obj.GetKind(), obj.GetName())
		}
	}
	mutating, validating := webhooks(t, objs)
	for _, meta := range []metav1.ObjectMeta{mutating.ObjectMeta, validating.ObjectMeta} {
		if got, ok := meta.Annotations["cert-manager.io/inject-ca-from"]; ok {
			t.Errorf("%s has inject-ca-from %q although certificates are provided", meta.Name, got)
		}
	}
	for _, cc := range clientConfigs(mutating, validating) {
		if string(cc.CABundle) != string(ca) {
			t.Errorf("clientConfig caBundle = %q, want the provided CA", cc.CABundle)
		}
	}
	checkTLSVolume(t, find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper"), "my-tls")
}

func TestBuiltinCertificatesAreTheDefault(t *testing.T) {
	const ns = "security"
	objs := render(t, ns, "certificates: {builtin: {validity: 2160h}}\n")
	for _, obj := range objs {
		if obj.GroupVersionKind().Group == certmanagerv1.SchemeGroupVersion.Group {
			t.Errorf("%s %s rendered although gracekeeper issues its own certificates", obj.GetKind(), obj.GetName())
		}
	}
	secret := find[corev1.Secret](t, objs, "Secret", "gracekeeper-tls")
	if secret.Namespace != ns || len(secret.Data) != 0 || len(secret.StringData) != 0 {
		t.Errorf("Secret %s/%s has data %v: an upgrade would overwrite what gracekeeper wrote", secret.Namespace, secret.Name, secret.Data)
	}
	mutating, validating := webhooks(t, objs)
	for _, meta := range []metav1.ObjectMeta{mutating.ObjectMeta, validating.ObjectMeta} {
		if meta.Name != "gracekeeper" {
			t.Errorf("webhook configuration %s, want gracekeeper, the name serve writes the CA into", meta.Name)
		}
		if got, ok := meta.Annotations["cert-manager.io/inject-ca-from"]; ok {
			t.Errorf("%s has inject-ca-from %q although gracekeeper writes the caBundle", meta.Name, got)
		}
	}
	for _, cc := range clientConfigs(mutating, validating) {
		if len(cc.CABundle) != 0 {
			t.Errorf("a clientConfig has a caBundle %q: an upgrade would overwrite the one gracekeeper wrote", cc.CABundle)
		}
	}

	deployment := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	c := deployment.Spec.Template.Spec.Containers[0]
	for _, arg := range []string{
		"--webhook-configuration=gracekeeper", "--cert-validity=2160h",
		// The name the API server calls, which the certificate is issued for.
		"--tls-server-names=gracekeeper.security.svc",
	} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	// Two items, so that kustomize can move the namespace in the value.
	if i := slices.Index(c.Args, "--cert-secret"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != "security/gracekeeper-tls" {
		t.Errorf("args %v lack --cert-secret security/gracekeeper-tls", c.Args)
	}
	// serve writes the pair from the Secret into --tls-dir: an in-memory
	// emptyDir, writable, so the key never touches the node's disk.
	var tlsDir string
	for _, m := range c.VolumeMounts {
		if m.Name == "tls" {
			tlsDir = m.MountPath
			if m.ReadOnly || m.SubPath != "" {
				t.Errorf("tls mount %+v: serve must write the pair there", m)
			}
		}
	}
	if !slices.Contains(c.Args, "--tls-dir="+tlsDir) {
		t.Errorf("args %v do not use the tls volume's mount %q", c.Args, tlsDir)
	}
	for _, v := range deployment.Spec.Template.Spec.Volumes {
		if v.Name == "tls" && (v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory) {
			t.Errorf("tls volume %+v, want an in-memory emptyDir", v.VolumeSource)
		}
	}
}
