//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/deploy"
	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

const (
	installNamespace = "gk-install"
	installName      = "gk-install"
	// serviceMonitorCRD and prometheusRuleCRD are generated from
	// prometheus-operator's API types by testdata/install/generate.sh.
	serviceMonitorCRD = "testdata/install/monitoring.coreos.com_servicemonitors.yaml"
	prometheusRuleCRD = "testdata/install/monitoring.coreos.com_prometheusrules.yaml"
)

// installValues give the release a name other than the default "gracekeeper",
// so the hook must delete what this release created, render the
// ServiceMonitor (with every setting), the PrometheusRule and the dashboard,
// and keep the chart's pods Pending on a node that does not exist, so they
// never get an address.
var installValues = map[string]any{
	"fullnameOverride": installName,
	"nodeSelector":     map[string]any{"gracekeeper.io/e2e-no-such-node": "true"},
	"commonLabels":     map[string]any{"team": "platform"},
	"metrics": map[string]any{
		"serviceMonitor": map[string]any{
			"enabled": true, "scrapeTimeout": "10s",
			"relabelings":       []any{map[string]any{"sourceLabels": []any{"__meta_kubernetes_pod_node_name"}, "targetLabel": "node"}},
			"metricRelabelings": []any{map[string]any{"action": "drop", "regex": "go_gc_.*", "sourceLabels": []any{"__name__"}}},
		},
		"prometheusRule": map[string]any{"enabled": true},
		"dashboard":      map[string]any{"enabled": true},
	},
	// The cert-manager chain; builtin certificates run in
	// TestBuiltinCertificatesRotateWithoutLosingAnAdmission and on the real node.
	"certificates": map[string]any{"mode": "certManager"},
}

// TestInstall installs the chart as a user would, with kubectl apply
// --server-side against cert-manager's and prometheus-operator's real CRDs,
// reads the certificates back as cert-manager's Go types, and uninstalls it
// with the pre-delete hook's own command.
//
// It runs on a control plane of its own, never the shared one. The API server
// calls a Service-backed webhook at the Service's ClusterIP (in 10.0.0.0/24
// here), endpoints or not, so on the shared cluster every labelled namespace
// another test creates would make it dial off loopback. Here nothing carries
// gracekeeper.io/mode and the release namespace is excluded, so the chart's
// webhooks match no request; the test checks the API server's metrics to
// prove no call was ever attempted.
func TestInstall(t *testing.T) {
	inst := startInstallCluster(t)

	crds := []string{"-f", certManagerCRDs(t), "-f", serviceMonitorCRD, "-f", prometheusRuleCRD}
	inst.mustKubectl(t, "", append([]string{"apply", "--server-side"}, crds...)...)
	inst.mustKubectl(t, "", append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crds...)...)
	// Established comes before discovery serves the kinds.
	eventually(t, time.Minute, "the CRDs' kinds to be served", func() (bool, error) {
		_, _, err := inst.c.KubectlInput(context.Background(), "", "get", "-A",
			"servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com,certificates.cert-manager.io,issuers.cert-manager.io")
		return err == nil, err
	})

	objs, err := deploy.RenderChart(installNamespace, installValues)
	if err != nil {
		t.Fatal(err)
	}
	var release []*unstructured.Unstructured
	var hooks []*unstructured.Unstructured
	for _, obj := range objs {
		if deploy.IsHook(obj) {
			hooks = append(hooks, obj)
		} else {
			release = append(release, obj)
		}
	}
	mutating, validating, err := deploy.WebhookConfigurations(release)
	if err != nil {
		t.Fatal(err)
	}
	assertFailOpen(t, mutating, validating)

	inst.mustKubectl(t, "", "create", "namespace", installNamespace)
	admission := inst.c.Client().AdmissionregistrationV1()
	t.Cleanup(func() {
		ctx := context.Background()
		for _, err := range []error{
			admission.MutatingWebhookConfigurations().Delete(ctx, mutating.Name, metav1.DeleteOptions{}),
			admission.ValidatingWebhookConfigurations().Delete(ctx, validating.Name, metav1.DeleteOptions{}),
		} {
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete the release's webhook configurations: %v", err)
			}
		}
	})

	// The chart's webhooks must match no request: only namespaces labelled
	// gracekeeper.io/mode would reach them.
	labelled, err := inst.c.Client().CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: "gracekeeper.io/mode"})
	if err != nil {
		t.Fatal(err)
	}
	if len(labelled.Items) > 0 {
		t.Fatalf("namespace %s carries gracekeeper.io/mode; the chart's webhooks would be called", labelled.Items[0].Name)
	}

	applied := t.Run("every object of the release is accepted by server-side apply", func(t *testing.T) {
		manifest := manifestOf(t, release)
		dryRun := inst.mustKubectl(t, manifest, "apply", "--server-side", "--dry-run=server", "-f", "-")
		assertEveryObjectApplied(t, dryRun, release)
		applied := inst.mustKubectl(t, manifest, "apply", "--server-side", "-f", "-")
		assertEveryObjectApplied(t, applied, release)
	})
	if !applied {
		t.FailNow()
	}

	t.Run("the stored webhook configurations keep their matchConditions and trust the CA certificate", func(t *testing.T) {
		ctx := context.Background()
		storedMutating, err := admission.MutatingWebhookConfigurations().Get(ctx, mutating.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		storedValidating, err := admission.ValidatingWebhookConfigurations().Get(ctx, validating.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(storedMutating.Webhooks) != len(mutating.Webhooks) || len(storedValidating.Webhooks) != len(validating.Webhooks) {
			t.Fatalf("stored %d mutating and %d validating webhooks, rendered %d and %d",
				len(storedMutating.Webhooks), len(storedValidating.Webhooks), len(mutating.Webhooks), len(validating.Webhooks))
		}
		conditions := 0
		for i, w := range validating.Webhooks {
			conditions += len(w.MatchConditions)
			assertSameMatchConditions(t, w.Name, w.MatchConditions, storedValidating.Webhooks[i].MatchConditions)
		}
		for i, w := range mutating.Webhooks {
			assertSameMatchConditions(t, w.Name, w.MatchConditions, storedMutating.Webhooks[i].MatchConditions)
		}
		if conditions == 0 {
			t.Error("the rendered validating webhooks have no matchConditions to check")
		}

		ca := caCertificate(t, inst.certificates(t))
		want := installNamespace + "/" + ca.Name
		for kind, annotations := range map[string]map[string]string{
			"mutating":   storedMutating.Annotations,
			"validating": storedValidating.Annotations,
		} {
			if got := annotations["cert-manager.io/inject-ca-from"]; got != want {
				t.Errorf("%s webhook configuration: cert-manager.io/inject-ca-from = %q, want %q", kind, got, want)
			}
		}
	})

	t.Run("cert-manager's types read back a CA chain that serves the webhook Service", func(t *testing.T) {
		certs := inst.certificates(t)
		issuers := inst.issuers(t)
		ca := caCertificate(t, certs)
		if ca.Spec.Duration == nil || ca.Spec.Duration.Duration != 87600*time.Hour {
			t.Errorf("CA certificate %s: duration %v, want 87600h", ca.Name, ca.Spec.Duration)
		}
		if ca.Spec.PrivateKey == nil || ca.Spec.PrivateKey.RotationPolicy != cmapi.RotationPolicyNever {
			t.Errorf("CA certificate %s: privateKey %+v, want rotationPolicy Never", ca.Name, ca.Spec.PrivateKey)
		}
		selfSigned := issuers[ca.Spec.IssuerRef.Name]
		if selfSigned == nil || selfSigned.Spec.SelfSigned == nil {
			t.Errorf("CA certificate %s: issuerRef %s is not a selfSigned Issuer of the release", ca.Name, ca.Spec.IssuerRef.Name)
		}

		serving := servingCertificate(t, certs)
		caIssuer := issuers[serving.Spec.IssuerRef.Name]
		if caIssuer == nil || caIssuer.Spec.CA == nil || caIssuer.Spec.CA.SecretName != ca.Spec.SecretName {
			t.Errorf("serving certificate %s: issuerRef %s is not a CA Issuer of secret %s", serving.Name, serving.Spec.IssuerRef.Name, ca.Spec.SecretName)
		}

		service := renderedService(t, release)
		var clients []admissionregistrationv1.WebhookClientConfig
		for _, w := range mutating.Webhooks {
			clients = append(clients, w.ClientConfig)
		}
		for _, w := range validating.Webhooks {
			clients = append(clients, w.ClientConfig)
		}
		for _, cc := range clients {
			if ref := cc.Service; ref == nil || ref.Name != service.Name || ref.Namespace != service.Namespace {
				t.Errorf("a webhook calls service %+v, want %s/%s", ref, service.Namespace, service.Name)
			}
		}
		host := service.Name + "." + service.Namespace + ".svc"
		if !slices.Contains(serving.Spec.DNSNames, host) {
			t.Errorf("serving certificate %s: dnsNames %v lack %s, the name the API server verifies", serving.Name, serving.Spec.DNSNames, host)
		}

		deployment, err := inst.c.Client().AppsV1().Deployments(installNamespace).Get(context.Background(), installName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := tlsSecretOf(t, deployment); got != serving.Spec.SecretName {
			t.Errorf("the Deployment serves TLS from secret %q, the serving certificate writes %q", got, serving.Spec.SecretName)
		}
	})

	t.Run("the ServiceMonitor scrapes a port of the Service", func(t *testing.T) {
		monitor, err := inst.dynamic.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}).
			Namespace(installNamespace).Get(context.Background(), installName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
		service := renderedService(t, release)
		if len(endpoints) == 0 {
			t.Fatal("the stored ServiceMonitor has no endpoints")
		}
		for _, e := range endpoints {
			port, _, _ := unstructured.NestedString(e.(map[string]any), "port")
			if !slices.ContainsFunc(service.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == port }) {
				t.Errorf("ServiceMonitor endpoint port %q names no port of Service %s", port, service.Name)
			}
		}
	})

	t.Run("the stored PrometheusRule keeps every alert and the ServiceMonitor its scrape settings", func(t *testing.T) {
		rule, err := inst.dynamic.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}).
			Namespace(installNamespace).Get(context.Background(), installName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := deploy.MonitoringQueries([]*unstructured.Unstructured{rule})
		if err != nil {
			t.Fatal(err)
		}
		rendered, err := deploy.MonitoringQueries(release)
		if err != nil {
			t.Fatal(err)
		}
		alerts := slices.DeleteFunc(rendered, func(q deploy.MonitoringQuery) bool { return !strings.HasPrefix(q.Source, "alert ") })
		if !reflect.DeepEqual(stored, alerts) {
			t.Errorf("stored alerts %v, rendered %v", stored, alerts)
		}
		monitor, err := inst.dynamic.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}).
			Namespace(installNamespace).Get(context.Background(), installName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
		if e := endpoints[0].(map[string]any); e["scrapeTimeout"] != "10s" || len(e["relabelings"].([]any)) != 1 || len(e["metricRelabelings"].([]any)) != 1 {
			t.Errorf("stored endpoint %v lost scrapeTimeout or relabelings", e)
		}
		if monitor.GetLabels()["team"] != "platform" || rule.GetLabels()["team"] != "platform" {
			t.Error("commonLabels did not reach the stored ServiceMonitor and PrometheusRule")
		}
	})

	t.Run("the pre-delete hook's command removes both webhook configurations, and again finds nothing to do", func(t *testing.T) {
		args := preDeleteHookArgs(t, hooks)
		first := runHook(t, args, inst.c.Kubeconfig)
		assertContains(t, "first cleanup", first,
			"mutatingwebhookconfiguration "+mutating.Name+" deleted",
			"validatingwebhookconfiguration "+validating.Name+" deleted")
		ctx := context.Background()
		if _, err := admission.MutatingWebhookConfigurations().Get(ctx, mutating.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("mutating webhook configuration %s after cleanup: %v, want not found", mutating.Name, err)
		}
		if _, err := admission.ValidatingWebhookConfigurations().Get(ctx, validating.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("validating webhook configuration %s after cleanup: %v, want not found", validating.Name, err)
		}
		second := runHook(t, args, inst.c.Kubeconfig)
		assertContains(t, "second cleanup", second, "not found, nothing to delete")
	})

	t.Run("the API server never called the release's webhooks and its pods never ran", func(t *testing.T) {
		inst.assertNoWebhookCalls(t)
		pods, err := inst.c.Client().CoreV1().Pods(installNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" || p.Status.PodIP != "" {
				t.Errorf("pod %s was scheduled to %q with IP %q; the nodeSelector should keep it Pending", p.Name, p.Spec.NodeName, p.Status.PodIP)
			}
		}
	})
}

// installCluster is the control plane TestInstall has to itself.
type installCluster struct {
	c       *cluster.Cluster
	dynamic dynamic.Interface
}

// startInstallCluster starts a control plane from the shared cluster's
// binaries; it is stopped, with everything installed in it, when the test ends.
func startInstallCluster(t *testing.T) *installCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: env.cluster.BinDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Tails(30))
		}
	})
	client, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &installCluster{c: c, dynamic: client}
}

// mustKubectl runs the real kubectl against the install cluster, with input
// on stdin, and fails the test unless it succeeds.
func (i *installCluster) mustKubectl(t *testing.T, input string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, err := i.c.KubectlInput(ctx, input, args...)
	r := result{stdout, stderr, err}
	if err != nil {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// certificates reads the release's Certificates back as cert-manager's types.
func (i *installCluster) certificates(t *testing.T) []*cmapi.Certificate {
	t.Helper()
	var certs []*cmapi.Certificate
	for _, obj := range i.list(t, cmapi.SchemeGroupVersion.WithResource("certificates")) {
		cert := &cmapi.Certificate{}
		if err := deploy.Decode(obj, cert); err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
	}
	return certs
}

// issuers reads the release's Issuers back as cert-manager's types, by name.
func (i *installCluster) issuers(t *testing.T) map[string]*cmapi.Issuer {
	t.Helper()
	issuers := map[string]*cmapi.Issuer{}
	for _, obj := range i.list(t, cmapi.SchemeGroupVersion.WithResource("issuers")) {
		issuer := &cmapi.Issuer{}
		if err := deploy.Decode(obj, issuer); err != nil {
			t.Fatal(err)
		}
		issuers[issuer.Name] = issuer
	}
	return issuers
}

func (i *installCluster) list(t *testing.T, resource schema.GroupVersionResource) []*unstructured.Unstructured {
	t.Helper()
	list, err := i.dynamic.Resource(resource).Namespace(installNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for idx := range list.Items {
		objs = append(objs, &list.Items[idx])
	}
	return objs
}

// assertNoWebhookCalls fails if the API server's admission metrics name any
// of the release's webhooks: it records every call it attempts, failed or not.
func (i *installCluster) assertNoWebhookCalls(t *testing.T) {
	t.Helper()
	metrics, err := i.c.Client().Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("read the API server's metrics: %v", err)
	}
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "apiserver_admission_webhook") && strings.Contains(line, `.gracekeeper.io"`) {
			t.Errorf("the API server called a webhook of the release: %s", line)
		}
	}
}

// certManagerCRDs is the CRD directory of the cert-manager module the main
// module depends on.
func certManagerCRDs(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		t.Fatalf("find the cert-manager module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("the cert-manager module is not downloaded: run go mod download")
	}
	return filepath.Join(dir, "deploy", "crds")
}

// assertFailOpen fails unless every webhook of the release fails open, so an
// unreachable webhook Service can never block a request in the cluster.
func assertFailOpen(t *testing.T, mutating *admissionregistrationv1.MutatingWebhookConfiguration, validating *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	policies := map[string]*admissionregistrationv1.FailurePolicyType{}
	for _, w := range mutating.Webhooks {
		policies[w.Name] = w.FailurePolicy
	}
	for _, w := range validating.Webhooks {
		policies[w.Name] = w.FailurePolicy
	}
	for name, policy := range policies {
		if policy == nil || *policy != admissionregistrationv1.Ignore {
			t.Fatalf("webhook %s: failurePolicy %v, want Ignore before applying the chart", name, policy)
		}
	}
}

// manifestOf is the objects as one multi-document YAML, as helm template prints.
func manifestOf(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	var docs []string
	for _, obj := range objs {
		doc, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatalf("encode %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		docs = append(docs, string(doc))
	}
	return strings.Join(docs, "---\n")
}

// assertEveryObjectApplied checks kubectl reported each object as applied
// and printed no warnings.
func assertEveryObjectApplied(t *testing.T, r result, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		resource := strings.ToLower(gvk.Kind)
		if gvk.Group != "" {
			resource += "." + gvk.Group
		}
		assertContains(t, "kubectl apply", r.stdout, resource+"/"+obj.GetName()+" serverside-applied")
	}
	if w := r.warnings(); len(w) > 0 {
		t.Errorf("kubectl apply warned: %q", w)
	}
}

func assertSameMatchConditions(t *testing.T, webhook string, rendered, stored []admissionregistrationv1.MatchCondition) {
	t.Helper()
	if !reflect.DeepEqual(stored, rendered) {
		t.Errorf("webhook %s: stored matchConditions %+v, rendered %+v", webhook, stored, rendered)
	}
}

func caCertificate(t *testing.T, certs []*cmapi.Certificate) *cmapi.Certificate {
	t.Helper()
	return onlyCertificate(t, "CA", certs, func(c *cmapi.Certificate) bool { return c.Spec.IsCA })
}

func servingCertificate(t *testing.T, certs []*cmapi.Certificate) *cmapi.Certificate {
	t.Helper()
	return onlyCertificate(t, "serving", certs, func(c *cmapi.Certificate) bool { return !c.Spec.IsCA })
}

func onlyCertificate(t *testing.T, what string, certs []*cmapi.Certificate, match func(*cmapi.Certificate) bool) *cmapi.Certificate {
	t.Helper()
	var found []*cmapi.Certificate
	for _, c := range certs {
		if match(c) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s Certificate in %s, found %d", what, installNamespace, len(found))
	}
	return found[0]
}

func renderedService(t *testing.T, objs []*unstructured.Unstructured) *corev1.Service {
	t.Helper()
	for _, obj := range objs {
		if obj.GetKind() == "Service" && obj.GetAPIVersion() == "v1" {
			service := &corev1.Service{}
			if err := deploy.Decode(obj, service); err != nil {
				t.Fatal(err)
			}
			return service
		}
	}
	t.Fatal("the chart renders no Service")
	return nil
}

// tlsSecretOf follows the webhook container's --tls-dir to the Secret
// mounted there.
func tlsSecretOf(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	spec := d.Spec.Template.Spec
	for _, c := range spec.Containers {
		var dir string
		for _, arg := range c.Args {
			if v, ok := strings.CutPrefix(arg, "--tls-dir="); ok {
				dir = v
			}
		}
		if dir == "" {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != dir {
				continue
			}
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					return v.Secret.SecretName
				}
			}
		}
		t.Fatalf("container %s: no Secret volume mounted at --tls-dir %s", c.Name, dir)
	}
	t.Fatal("no container of the Deployment has --tls-dir")
	return ""
}

// preDeleteHookArgs returns the arguments the pre-delete Job's container
// passes to gracekeeper, which is the image's entrypoint.
func preDeleteHookArgs(t *testing.T, hooks []*unstructured.Unstructured) []string {
	t.Helper()
	for _, obj := range hooks {
		if obj.GetKind() != "Job" || !slices.Contains(strings.Split(obj.GetAnnotations()["helm.sh/hook"], ","), "pre-delete") {
			continue
		}
		job := &batchv1.Job{}
		if err := deploy.Decode(obj, job); err != nil {
			t.Fatal(err)
		}
		containers := job.Spec.Template.Spec.Containers
		if len(containers) != 1 {
			t.Fatalf("pre-delete Job %s: %d containers, want 1", job.Name, len(containers))
		}
		c := containers[0]
		if len(c.Env) > 0 || len(c.EnvFrom) > 0 {
			t.Fatalf("pre-delete Job %s: the container's environment %v %v is not reproduced here", job.Name, c.Env, c.EnvFrom)
		}
		args := c.Args
		if len(c.Command) > 0 {
			if filepath.Base(c.Command[0]) != "gracekeeper" {
				t.Fatalf("pre-delete Job %s runs %q, not gracekeeper", job.Name, c.Command)
			}
			args = slices.Concat(c.Command[1:], c.Args)
		}
		return args
	}
	t.Fatal("the chart renders no pre-delete hook Job")
	return nil
}

// runHook runs the hook's command with the real binary, pointed at the
// cluster by --kubeconfig where the Job would use its service account, and
// returns what it printed.
func runHook(t *testing.T, args []string, kubeconfig string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, env.binary, append(slices.Clone(args), "--kubeconfig="+kubeconfig)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gracekeeper %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
