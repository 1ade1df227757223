// Chart tests: the helpers every chart test renders and decodes with, and the checks
// that hold for every value set (helm lint, each object decodes into its API type).

package deploy

import (
	"reflect"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// valueSets are the value files every whole-chart check runs against.
var valueSets = map[string]string{
	"defaults":                         ``,
	"cluster scope in audit":           "scope: cluster\ndefaultMode: audit\n",
	"provided certificates":            "certificates: {mode: provided, provided: {secretName: my-tls, caBundle: Zm9v}}\n",
	"service monitor":                  "metrics: {serviceMonitor: {enabled: true, labels: {release: prometheus}}}\n",
	"alerts and dashboard":             monitoringValues,
	"OpenShift, no fixed IDs":          openShiftValues,
	"exempt namespaces, users, groups": "exemptNamespaces: [ci]\nexemptUsers: [break-glass]\nexemptGroups: [sre]\n",
	"guards that fail closed":          "failurePolicy: {mutating: Fail, validating: Fail, namespaces: Fail}\n",
	"no priority class, no cleanup":    "priorityClassName: \"\"\ncleanup: {enabled: false}\n",
	"mutual TLS and a NetworkPolicy":   hardenedValues,
}

func readValues(t *testing.T, valuesYAML string) map[string]any {
	t.Helper()
	values, err := common.ReadValues([]byte(valuesYAML))
	if err != nil {
		t.Fatalf("values %q: %v", valuesYAML, err)
	}
	return values
}

func render(t *testing.T, namespace, valuesYAML string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := RenderChart(namespace, readValues(t, valuesYAML))
	if err != nil {
		t.Fatalf("render with values %q: %v", valuesYAML, err)
	}
	return objs
}

// scheme knows every kind the chart renders but the ServiceMonitor and the PrometheusRule.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := certmanagerv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// find returns the only object of the kind and name, decoded into T.
func find[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	var found *T
	for _, obj := range objs {
		if obj.GetKind() != kind || obj.GetName() != name {
			continue
		}
		if found != nil {
			t.Fatalf("%s %s is rendered twice", kind, name)
		}
		found = new(T)
		if err := Decode(obj, found); err != nil {
			t.Fatal(err)
		}
	}
	if found == nil {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	return found
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, obj := range objs {
		out = append(out, obj.GetKind()+"/"+obj.GetName())
	}
	return out
}

func webhooks(t *testing.T, objs []*unstructured.Unstructured) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	m, v, err := WebhookConfigurations(objs)
	if err != nil {
		t.Fatal(err)
	}
	return m, v
}

// servicePortTargets reports whether the Service's port forwards to the named
// container port.
func servicePortTargets(s *corev1.Service, port int32, targetName string) bool {
	for _, p := range s.Spec.Ports {
		if p.Port == port && p.TargetPort == intstr.FromString(targetName) {
			return true
		}
	}
	return false
}

func checkRestricted(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container %s securityContext = %+v, want no privilege escalation, a read-only root and all capabilities dropped", c.Name, sc)
	}
}

func TestChartLintsClean(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			linter := lint.RunAll(ChartDir, readValues(t, values), "gracekeeper", lint.WithKubeVersion(&common.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"}))
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Error(m)
				}
			}
		})
	}
}

func TestEveryObjectDecodesIntoItsAPIType(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			for _, obj := range render(t, "gracekeeper", values) {
				typed, err := scheme.New(obj.GroupVersionKind())
				if err != nil {
					if obj.GetKind() == "ServiceMonitor" || obj.GetKind() == "PrometheusRule" {
						continue
					}
					t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
					continue
				}
				if err := Decode(obj, typed); err != nil {
					t.Error(err)
				}
				if obj.GetNamespace() == "" && isNamespaced(obj.GetKind()) {
					t.Errorf("%s %s has no namespace; helm template | kubectl apply would put it in the wrong one", obj.GetKind(), obj.GetName())
				}
			}
		})
	}
}

func isNamespaced(kind string) bool {
	switch kind {
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding", "Namespace":
		return false
	}
	return true
}
