package deploy

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/gracekeeper/gracekeeper/policies"
	"sigs.k8s.io/yaml"
)

// systemUsers and systemGroups are the actors the engine never judges; the
// chart's matchConditions must keep each of them away from the guards.
var systemUsers, systemGroups = policies.SystemActors()

// valueSets are the value files every whole-chart check runs against.
var valueSets = map[string]string{
	"defaults":                         ``,
	"cluster scope in audit":           "scope: cluster\ndefaultMode: audit\n",
	"provided certificates":            "certificates: {mode: provided, provided: {secretName: my-tls, caBundle: Zm9v}}\n",
	"service monitor":                  "metrics: {serviceMonitor: {enabled: true, labels: {release: prometheus}}}\n",
	"exempt namespaces, users, groups": "exemptNamespaces: [ci]\nexemptUsers: [break-glass]\nexemptGroups: [sre]\n",
	"guards that fail closed":          "failurePolicy: {mutating: Fail, validating: Fail, namespaces: Fail}\n",
	"no priority class, no cleanup":    "priorityClassName: \"\"\ncleanup: {enabled: false}\n",
}

func readValues(t *testing.T, valuesYAML string) map[string]any {
	t.Helper()
	values, err := chartutil.ReadValues([]byte(valuesYAML))
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

// scheme knows every kind the chart renders but the ServiceMonitor.
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

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestNamespaceSelectorsFollowScopeAndDefaultMode(t *testing.T) {
	systemNamespaces := []string{"kube-system", "kube-public", "kube-node-lease"}
	tests := []struct {
		name       string
		namespace  string
		values     string
		wantMode   map[string]metav1.LabelSelectorRequirement
		wantExempt []string
	}{
		{
			name:      "By default only namespaces labelled enforce or audit are covered, each by its own entry.",
			namespace: "gracekeeper",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "Cluster scope in enforce covers every namespace not labelled audit or off.",
			namespace: "gracekeeper",
			values:    "scope: cluster\ndefaultMode: enforce\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpNotIn, "audit", "off"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "Cluster scope in audit audits every namespace not labelled enforce or off.",
			namespace: "gracekeeper",
			values:    "scope: cluster\ndefaultMode: audit\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpNotIn, "enforce", "off"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "defaultMode is ignored in opt-in scope.",
			namespace: "gracekeeper",
			values:    "scope: optIn\ndefaultMode: audit\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "Exempt namespaces join the system namespaces and the release namespace, each once.",
			namespace: "platform",
			values:    "exemptNamespaces: [ci, kube-system, monitoring]\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "platform", "ci", "monitoring"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutating, validating := webhooks(t, render(t, tt.namespace, tt.values))
			check := func(name string, selector, objectSelector *metav1.LabelSelector, mode string) {
				t.Helper()
				want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					tt.wantMode[mode],
					expr("kubernetes.io/metadata.name", metav1.LabelSelectorOpNotIn, tt.wantExempt...),
				}}
				if !reflect.DeepEqual(selector, want) {
					t.Errorf("%s namespaceSelector = %v, want %v", name, selector, want)
				}
				if objectSelector != nil {
					t.Errorf("%s has an objectSelector %v, want none", name, objectSelector)
				}
			}
			for _, w := range mutating.Webhooks {
				check(w.Name, w.NamespaceSelector, w.ObjectSelector, strings.Split(w.Name, ".")[0])
			}
			for _, w := range validating.Webhooks {
				if w.Name == "namespaces.validate.gracekeeper.io" {
					// Matched against the namespace's own labels, so a typo in
					// the label must not make the entry skip it.
					if w.NamespaceSelector != nil {
						t.Errorf("%s has namespaceSelector %v, want none", w.Name, w.NamespaceSelector)
					}
					wantObject := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr("gracekeeper.io/mode", metav1.LabelSelectorOpExists)}}
					if !reflect.DeepEqual(w.ObjectSelector, wantObject) {
						t.Errorf("%s objectSelector = %v, want %v", w.Name, w.ObjectSelector, wantObject)
					}
					continue
				}
				check(w.Name, w.NamespaceSelector, w.ObjectSelector, strings.Split(w.Name, ".")[0])
			}
		})
	}
}

func TestWebhookEntriesRouteEachModeToItsPath(t *testing.T) {
	objs := render(t, "gracekeeper", "")
	mutating, validating := webhooks(t, objs)
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")

	type entry struct{ name, path string }
	var gotMutating, gotValidating []entry
	for _, w := range mutating.Webhooks {
		gotMutating = append(gotMutating, entry{w.Name, *w.ClientConfig.Service.Path})
	}
	for _, w := range validating.Webhooks {
		gotValidating = append(gotValidating, entry{w.Name, *w.ClientConfig.Service.Path})
	}
	wantMutating := []entry{{"enforce.mutate.gracekeeper.io", "/mutate/enforce"}, {"audit.mutate.gracekeeper.io", "/mutate/audit"}}
	wantValidating := []entry{
		{"enforce.validate.gracekeeper.io", "/validate/enforce"},
		{"audit.validate.gracekeeper.io", "/validate/audit"},
		{"namespaces.validate.gracekeeper.io", "/validate/namespaces"},
	}
	if !reflect.DeepEqual(gotMutating, wantMutating) {
		t.Errorf("mutating entries = %v, want %v", gotMutating, wantMutating)
	}
	if !reflect.DeepEqual(gotValidating, wantValidating) {
		t.Errorf("validating entries = %v, want %v", gotValidating, wantValidating)
	}

	mutatingRules := []admissionregistrationv1.RuleWithOperations{
		rule([]string{""}, []string{"pods"}, admissionregistrationv1.NamespacedScope, admissionregistrationv1.Create),
		rule([]string{"apps"}, []string{"deployments", "statefulsets", "daemonsets"}, admissionregistrationv1.NamespacedScope, admissionregistrationv1.Create, admissionregistrationv1.Update),
	}
	guardRules := []admissionregistrationv1.RuleWithOperations{
		rule([]string{"apps"}, []string{"deployments", "statefulsets", "daemonsets"}, admissionregistrationv1.NamespacedScope, admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete),
		rule([]string{"apps"}, []string{"deployments/scale", "statefulsets/scale"}, admissionregistrationv1.NamespacedScope, admissionregistrationv1.Update),
		rule([]string{""}, []string{"pods"}, admissionregistrationv1.NamespacedScope, admissionregistrationv1.Delete),
	}
	namespaceRules := []admissionregistrationv1.RuleWithOperations{
		rule([]string{""}, []string{"namespaces"}, admissionregistrationv1.ClusterScope, admissionregistrationv1.Create, admissionregistrationv1.Update),
	}

	checkCommon := func(name string, cc admissionregistrationv1.WebhookClientConfig, sideEffects *admissionregistrationv1.SideEffectClass, versions []string, matchPolicy *admissionregistrationv1.MatchPolicyType, timeout *int32) {
		t.Helper()
		s := cc.Service
		if s == nil || s.Name != service.Name || s.Namespace != service.Namespace || s.Port == nil || !servicePortTargets(service, *s.Port, "https") {
			t.Errorf("%s clientConfig.service = %+v, want the Service %s/%s on a port that targets https", name, s, service.Namespace, service.Name)
		}
		if sideEffects == nil || *sideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s sideEffects = %v, want None: dry-run requests must reach it", name, sideEffects)
		}
		if !reflect.DeepEqual(versions, []string{"v1"}) {
			t.Errorf("%s admissionReviewVersions = %v, want [v1]", name, versions)
		}
		if matchPolicy == nil || *matchPolicy != admissionregistrationv1.Equivalent {
			t.Errorf("%s matchPolicy = %v, want Equivalent", name, matchPolicy)
		}
		if timeout == nil || *timeout != 5 {
			t.Errorf("%s timeoutSeconds = %v, want 5", name, timeout)
		}
	}
	for _, w := range mutating.Webhooks {
		checkCommon(w.Name, w.ClientConfig, w.SideEffects, w.AdmissionReviewVersions, w.MatchPolicy, w.TimeoutSeconds)
		if !reflect.DeepEqual(w.Rules, mutatingRules) {
			t.Errorf("%s rules = %+v, want %+v", w.Name, w.Rules, mutatingRules)
		}
		if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
			t.Errorf("%s reinvocationPolicy = %v, want IfNeeded", w.Name, w.ReinvocationPolicy)
		}
		// Pods created by controllers are exactly the ones to mutate.
		if len(w.MatchConditions) > 0 {
			t.Errorf("%s has matchConditions %v; the mutating configuration must see controller-created pods", w.Name, w.MatchConditions)
		}
	}
	for _, w := range validating.Webhooks {
		checkCommon(w.Name, w.ClientConfig, w.SideEffects, w.AdmissionReviewVersions, w.MatchPolicy, w.TimeoutSeconds)
		want := guardRules
		if w.Name == "namespaces.validate.gracekeeper.io" {
			want = namespaceRules
		}
		if !reflect.DeepEqual(w.Rules, want) {
			t.Errorf("%s rules = %+v, want %+v", w.Name, w.Rules, want)
		}
	}
}

func rule(groups, resources []string, scope admissionregistrationv1.ScopeType, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: groups, APIVersions: []string{"v1"}, Resources: resources, Scope: &scope},
	}
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

func TestFailurePoliciesAndTimeoutComeFromValues(t *testing.T) {
	ignore, fail := admissionregistrationv1.Ignore, admissionregistrationv1.Fail
	tests := []struct {
		name    string
		values  string
		want    map[string]admissionregistrationv1.FailurePolicyType
		timeout int32
	}{
		{
			name:    "By default every entry fails open.",
			want:    map[string]admissionregistrationv1.FailurePolicyType{"enforce.mutate": ignore, "audit.mutate": ignore, "enforce.validate": ignore, "audit.validate": ignore, "namespaces.validate": ignore},
			timeout: 5,
		},
		{
			name:    "Fail applies to the enforce entries and the namespace check, never to audit, which only warns.",
			values:  "failurePolicy: {mutating: Fail, validating: Fail, namespaces: Fail}\ntimeoutSeconds: 10\n",
			want:    map[string]admissionregistrationv1.FailurePolicyType{"enforce.mutate": fail, "audit.mutate": ignore, "enforce.validate": fail, "audit.validate": ignore, "namespaces.validate": fail},
			timeout: 10,
		},
		{
			name:    "Each configuration's policy is set on its own.",
			values:  "failurePolicy: {validating: Fail}\n",
			want:    map[string]admissionregistrationv1.FailurePolicyType{"enforce.mutate": ignore, "audit.mutate": ignore, "enforce.validate": fail, "audit.validate": ignore, "namespaces.validate": ignore},
			timeout: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutating, validating := webhooks(t, render(t, "gracekeeper", tt.values))
			got := map[string]admissionregistrationv1.FailurePolicyType{}
			var timeouts []int32
			for _, w := range mutating.Webhooks {
				got[strings.TrimSuffix(w.Name, ".gracekeeper.io")] = *w.FailurePolicy
				timeouts = append(timeouts, *w.TimeoutSeconds)
			}
			for _, w := range validating.Webhooks {
				got[strings.TrimSuffix(w.Name, ".gracekeeper.io")] = *w.FailurePolicy
				timeouts = append(timeouts, *w.TimeoutSeconds)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failure policies = %v, want %v", got, tt.want)
			}
			for _, timeout := range timeouts {
				if timeout != tt.timeout {
					t.Errorf("timeoutSeconds = %v, want %d everywhere", timeouts, tt.timeout)
					break
				}
			}
		})
	}
}

func TestMatchConditionsKeepSystemActorsAwayFromTheGuards(t *testing.T) {
	tests := []struct {
		name       string
		values     string
		wantUsers  []string
		wantGroups []string
	}{
		{
			name:       "By default the kubelets, the controller manager and its named controllers are excluded.",
			wantUsers:  systemUsers,
			wantGroups: systemGroups,
		},
		{
			name:       "Exempt users and groups are excluded along with the system actors.",
			values:     "exemptUsers: [break-glass, \"o'brien\"]\nexemptGroups: [sre]\n",
			wantUsers:  append(slices.Clone(systemUsers), "break-glass", "o'brien"),
			wantGroups: append(slices.Clone(systemGroups), "sre"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, validating := webhooks(t, render(t, "gracekeeper", tt.values))
			for _, w := range validating.Webhooks {
				var all strings.Builder
				for _, c := range w.MatchConditions {
					all.WriteString(c.Expression + "\n")
				}
				expressions := all.String()
				for _, actor := range append(slices.Clone(tt.wantUsers), tt.wantGroups...) {
					if !strings.Contains(expressions, fmt.Sprintf("%q", actor)) {
						t.Errorf("%s matchConditions do not exclude %q:\n%s", w.Name, actor, expressions)
					}
				}
				// A blanket exclusion would also exempt add-ons and CI accounts in kube-system.
				for _, blanket := range []string{"kube-system:*", "startsWith", "matches("} {
					if strings.Contains(expressions, blanket) {
						t.Errorf("%s matchConditions contain %q, want an explicit list:\n%s", w.Name, blanket, expressions)
					}
				}
				if !strings.Contains(expressions, "request.userInfo.username") || !strings.Contains(expressions, "request.userInfo.groups") {
					t.Errorf("%s matchConditions do not test both the user and the groups:\n%s", w.Name, expressions)
				}
			}
		})
	}
}

func TestCertManagerChainServesTheWebhook(t *testing.T) {
	const ns = "security"
	objs := render(t, ns, "")
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

func TestDeploymentPassesGracekeepersOwnRules(t *testing.T) {
	objs := render(t, "gracekeeper", "")
	d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	pod := d.Spec.Template.Spec

	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		*s.RollingUpdate.MaxUnavailable != intstr.FromInt32(0) || *s.RollingUpdate.MaxSurge != intstr.FromInt32(1) {
		t.Errorf("strategy = %+v, want RollingUpdate maxUnavailable 0, maxSurge 1", s)
	}
	if d.Spec.RevisionHistoryLimit == nil || *d.Spec.RevisionHistoryLimit < 3 {
		t.Errorf("revisionHistoryLimit = %v, want at least 3", d.Spec.RevisionHistoryLimit)
	}
	if pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q", pod.PriorityClassName)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Errorf("affinity = %+v, want preferred pod anti-affinity", a)
	}
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Error("no topologySpreadConstraints")
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	for _, tsc := range pod.TopologySpreadConstraints {
		if sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector); err != nil || !sel.Matches(podLabels) {
			t.Errorf("topology spread selector %v does not select the pods", tsc.LabelSelector)
		}
	}

	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("containers = %d, init containers = %d, want one container", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	checkRestricted(t, c)
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}

	// gracekeeper's own rules: a preStop hook, a grace period covering it
	// plus 25s of shutdown, and one covering the drain delay too.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("lifecycle = %+v, want a native preStop sleep (the image has no sleep binary)", c.Lifecycle)
	}
	preStop := c.Lifecycle.PreStop.Sleep.Seconds
	grace := *pod.TerminationGracePeriodSeconds
	if grace < preStop+25 {
		t.Errorf("terminationGracePeriodSeconds %d < preStop %d + 25", grace, preStop)
	}
	if !slices.Contains(c.Args, "--drain-delay=10s") || grace <= preStop+10 {
		t.Errorf("args %v with grace %ds: the drain delay must end before the grace period", c.Args, grace)
	}

	// Probes use the plain port that --probe-listen serves.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		port := ports[probe.HTTPGet.Port.StrVal]
		if probe.HTTPGet.Scheme == corev1.URISchemeHTTPS || !slices.Contains(c.Args, fmt.Sprintf("--probe-listen=:%d", port)) {
			t.Errorf("%s probe %+v does not use the plain --probe-listen port (args %v)", name, probe.HTTPGet, c.Args)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probe paths = %s and %s, want /readyz and /healthz", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if !slices.Contains(c.Args, fmt.Sprintf("--listen=:%d", ports["https"])) {
		t.Errorf("args %v do not serve HTTPS on the https port %d", c.Args, ports["https"])
	}

	// The configuration file is the ConfigMap's config.yaml.
	configMap := find[corev1.ConfigMap](t, objs, "ConfigMap", "gracekeeper-config")
	var configMount string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == configMap.Name {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					configMount = m.MountPath
				}
			}
		}
	}
	if configMount == "" || !slices.Contains(c.Args, "--config="+configMount+"/config.yaml") {
		t.Errorf("args %v do not read config.yaml from the mounted ConfigMap %s", c.Args, configMap.Name)
	}

	pdb := find[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "gracekeeper")
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != intstr.FromInt32(1) || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB = %+v, want maxUnavailable 1 and no minAvailable, which would block drains at one replica", pdb.Spec)
	}
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
	}
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")
	if !labels.SelectorFromSet(service.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not select the pods", service.Spec.Selector)
	}
	if !servicePortTargets(service, 443, "https") || !servicePortTargets(service, 8080, "metrics") {
		t.Errorf("Service ports = %+v, want 443 -> https and a metrics port", service.Spec.Ports)
	}
	if sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", pod.ServiceAccountName); sa.Namespace != d.Namespace {
		t.Errorf("service account %s is in %s, the Deployment in %s", sa.Name, sa.Namespace, d.Namespace)
	}
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

func TestNoRBACBeyondDiscovery(t *testing.T) {
	// gracekeeper only reads /version, which system:discovery grants every
	// authenticated identity; only the uninstall hook has a role.
	for _, obj := range render(t, "gracekeeper", "") {
		switch obj.GetKind() {
		case "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
			if !IsHook(obj) {
				t.Errorf("%s %s grants the webhook permissions it does not need", obj.GetKind(), obj.GetName())
			}
		}
	}
}

func TestResourceQuotaAdmitsTheCriticalPriorityClass(t *testing.T) {
	tests := []struct {
		name      string
		values    string
		wantClass string
	}{
		{name: "By default the quota covers system-cluster-critical.", wantClass: "system-cluster-critical"},
		{name: "It follows a node-critical priority class.", values: "priorityClassName: system-node-critical\n", wantClass: "system-node-critical"},
		{name: "Other priority classes need no quota.", values: "priorityClassName: high\n"},
		{name: "No priority class needs no quota.", values: "priorityClassName: \"\"\n"},
		{name: "The quota can be switched off.", values: "resourceQuota: {enabled: false}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, "gracekeeper", tt.values)
			var quotas []*corev1.ResourceQuota
			for _, obj := range objs {
				if obj.GetKind() == "ResourceQuota" {
					quotas = append(quotas, find[corev1.ResourceQuota](t, objs, "ResourceQuota", obj.GetName()))
				}
			}
			if tt.wantClass == "" {
				if len(quotas) != 0 {
					t.Errorf("rendered %d ResourceQuotas, want none", len(quotas))
				}
				return
			}
			if len(quotas) != 1 {
				t.Fatalf("rendered %d ResourceQuotas, want 1", len(quotas))
			}
			q := quotas[0]
			want := &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{tt.wantClass},
			}}}
			if q.Namespace != "gracekeeper" || !reflect.DeepEqual(q.Spec.ScopeSelector, want) {
				t.Errorf("quota %s/%s scopeSelector = %+v, want %+v", q.Namespace, q.Name, q.Spec.ScopeSelector, want)
			}
			if pods := q.Spec.Hard[corev1.ResourcePods]; pods.Value() < 3 {
				t.Errorf("quota allows %s pods, want room for the replicas and a surge", pods.String())
			}
		})
	}
}

func TestServiceMonitorScrapesTheMetricsPort(t *testing.T) {
	for _, obj := range render(t, "gracekeeper", "") {
		if obj.GetKind() == "ServiceMonitor" {
			t.Fatal("a ServiceMonitor is rendered by default; it needs the prometheus-operator CRDs")
		}
	}
	objs := render(t, "gracekeeper", "metrics: {serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}}\n")
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")
	var monitor *unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == "ServiceMonitor" {
			monitor = obj
		}
	}
	if monitor == nil {
		t.Fatalf("no ServiceMonitor rendered: %v", kinds(objs))
	}
	if monitor.GetAPIVersion() != "monitoring.coreos.com/v1" || monitor.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %s with labels %v, want monitoring.coreos.com/v1 with release=prometheus", monitor.GetAPIVersion(), monitor.GetLabels())
	}
	matchLabels, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	if len(matchLabels) == 0 || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(service.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v)", matchLabels, service.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("endpoints = %v, want one", endpoints)
	}
	endpoint := endpoints[0].(map[string]any)
	var portNames []string
	for _, p := range service.Spec.Ports {
		portNames = append(portNames, p.Name)
	}
	if endpoint["port"] != "metrics" || !slices.Contains(portNames, "metrics") || endpoint["path"] != "/metrics" || endpoint["interval"] != "15s" {
		t.Errorf("endpoint = %v, want the Service's metrics port, /metrics every 15s", endpoint)
	}
}

func TestConfigMapHoldsThePolicyConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   string
	}{
		{
			name: "By default the file only names its kind, so the binary's defaults apply.",
			want: "apiVersion: gracekeeper.io/v1alpha1\nkind: Configuration\n",
		},
		{
			name: "Configured fields are written under apiVersion and kind, version strings stay strings.",
			values: `
terminationGracePeriodSeconds: 60
config:
  workloadDelete: warn
  shutdownSeconds: 30
  preStop: {sleepSeconds: 10, action: exec, skipOwnerKinds: [Job]}
  serverVersion: "1.32"
  exemptions:
    - rules: [scale-to-zero]
      serviceAccounts: [keda/keda-operator]
`,
			want: `apiVersion: gracekeeper.io/v1alpha1
kind: Configuration
exemptions:
- rules: [scale-to-zero]
  serviceAccounts: [keda/keda-operator]
preStop: {action: exec, skipOwnerKinds: [Job], sleepSeconds: 10}
serverVersion: "1.32"
shutdownSeconds: 30
workloadDelete: warn
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := find[corev1.ConfigMap](t, render(t, "gracekeeper", tt.values), "ConfigMap", "gracekeeper-config")
			if len(cm.Data) != 1 {
				t.Errorf("ConfigMap keys = %v, want only config.yaml", cm.Data)
			}
			var got, want map[string]any
			if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &got); err != nil {
				t.Fatalf("config.yaml is not strict YAML: %v\n%s", err, cm.Data["config.yaml"])
			}
			if err := yaml.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config.yaml =\n%s\nwant\n%s", cm.Data["config.yaml"], tt.want)
			}
		})
	}
}

func TestChartRefusesAGracePeriodThatBreaksGracekeepersRules(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr string
	}{
		{
			name:    "A grace period shorter than preStop plus the 25s shutdown fails the rule gracekeeper enforces.",
			values:  "terminationGracePeriodSeconds: 29\n",
			wantErr: "terminationGracePeriodSeconds 29 must be at least preStopSleepSeconds + config.shutdownSeconds = 30",
		},
		{
			name:    "The configured shutdownSeconds counts, not the default.",
			values:  "config: {shutdownSeconds: 60}\n",
			wantErr: "terminationGracePeriodSeconds 40 must be at least preStopSleepSeconds + config.shutdownSeconds = 65",
		},
		{
			name:    "A drain delay that outlasts the grace period is refused.",
			values:  "drainDelaySeconds: 35\n",
			wantErr: "terminationGracePeriodSeconds 40 must exceed preStopSleepSeconds + drainDelaySeconds = 40",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderChart("gracekeeper", readValues(t, tt.values))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr []string
	}{
		{"A misspelt top-level key is rejected.", "scop: cluster\n", []string{"additional properties 'scop' not allowed"}},
		{"A misspelt nested key is rejected.", "metrics: {serviceMonitor: {enable: true}}\n", []string{"/metrics/serviceMonitor", "additional properties 'enable' not allowed"}},
		{"A misspelt config field is rejected before the binary ever reads it.", "config: {workloadDelet: warn}\n", []string{"/config", "'workloadDelet'"}},
		{"An unknown scope is rejected.", "scope: optin\n", []string{"/scope", "'optIn', 'cluster'"}},
		{"An unknown default mode is rejected.", "defaultMode: warn\n", []string{"/defaultMode", "'enforce', 'audit'"}},
		{"A failure policy in the wrong case is rejected.", "failurePolicy: {validating: fail}\n", []string{"/failurePolicy/validating", "'Ignore', 'Fail'"}},
		{"An unknown config action is rejected.", "config: {recreate: allow}\n", []string{"/config/recreate", "'deny', 'convert', 'warn'"}},
		{"An exemption naming an unknown rule is rejected.", "config: {exemptions: [{rules: [workload-deletes]}]}\n", []string{"/config/exemptions/0/rules/0"}},
		{"Provided certificates need their secret and CA.", "certificates: {mode: provided}\n", []string{"/certificates/provided/secretName", "/certificates/provided/caBundle"}},
		{"A timeout beyond the API server's 30s limit is rejected.", "timeoutSeconds: 31\n", []string{"/timeoutSeconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderChart("gracekeeper", readValues(t, tt.values))
			if err == nil {
				t.Fatal("values accepted")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestChartLintsClean(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(ChartDir, readValues(t, values), "gracekeeper", &chartutil.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"})
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
					if obj.GetKind() == "ServiceMonitor" {
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

func TestUninstallHookDeletesTheWebhookConfigurations(t *testing.T) {
	objs := render(t, "gracekeeper", "")
	mutating, validating := webhooks(t, objs)
	var hooks []*unstructured.Unstructured
	for _, obj := range objs {
		if IsHook(obj) {
			hooks = append(hooks, obj)
		}
	}
	weight := map[string]string{}
	for _, h := range hooks {
		a := h.GetAnnotations()
		if a["helm.sh/hook"] != "pre-delete" || !strings.Contains(a["helm.sh/hook-delete-policy"], "hook-succeeded") {
			t.Errorf("hook %s %s has annotations %v, want a pre-delete hook deleted when it succeeds", h.GetKind(), h.GetName(), a)
		}
		weight[h.GetKind()] = a["helm.sh/hook-weight"]
	}

	job := find[batchv1.Job](t, objs, "Job", "gracekeeper-cleanup")
	role := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "gracekeeper-cleanup")
	binding := find[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "gracekeeper-cleanup")
	sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", job.Spec.Template.Spec.ServiceAccountName)

	c := job.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"cleanup", "--mutating=" + mutating.Name, "--validating=" + validating.Name}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("cleanup args = %v, want %v", c.Args, wantArgs)
	}
	if d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper"); c.Image != d.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("cleanup image %s differs from the webhook's %s; no extra image should be needed", c.Image, d.Spec.Template.Spec.Containers[0].Image)
	}
	checkRestricted(t, c)
	if psc := job.Spec.Template.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("cleanup pod securityContext = %+v, want runAsNonRoot", psc)
	}

	// The role may delete exactly the two configurations and nothing else.
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"}, ResourceNames: []string{mutating.Name}, Verbs: []string{"delete"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, ResourceNames: []string{validating.Name}, Verbs: []string{"delete"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("cleanup rules = %+v, want %+v", role.Rules, wantRules)
	}
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}
	if binding.RoleRef.Name != role.Name || !reflect.DeepEqual(binding.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("binding %+v does not bind %s to %+v", binding, role.Name, wantSubject)
	}
	// Helm runs hooks by weight: the RBAC must exist before the Job starts.
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		if hookWeight(t, weight[kind]) >= hookWeight(t, weight["Job"]) {
			t.Errorf("%s hook weight %s is not below the Job's %s", kind, weight[kind], weight["Job"])
		}
	}

	for _, obj := range render(t, "gracekeeper", "cleanup: {enabled: false}\n") {
		if IsHook(obj) {
			t.Errorf("hook %s %s rendered with cleanup disabled", obj.GetKind(), obj.GetName())
		}
	}
}

func hookWeight(t *testing.T, s string) int {
	t.Helper()
	var w int
	if _, err := fmt.Sscan(s, &w); err != nil {
		t.Fatalf("hook weight %q: %v", s, err)
	}
	return w
}

func TestWebhookConfigurationsNeedsBoth(t *testing.T) {
	var withoutValidating []*unstructured.Unstructured
	for _, obj := range render(t, "gracekeeper", "") {
		if obj.GetKind() != "ValidatingWebhookConfiguration" {
			withoutValidating = append(withoutValidating, obj)
		}
	}
	if _, _, err := WebhookConfigurations(withoutValidating); err == nil || !strings.Contains(err.Error(), "validating false") {
		t.Errorf("error = %v, want one that says the validating configuration is missing", err)
	}
}

func TestReadmeDocumentsEveryValue(t *testing.T) {
	c, err := LoadChart()
	if err != nil {
		t.Fatal(err)
	}
	var readme string
	for _, f := range c.Files {
		if f.Name == "README.md" {
			readme = string(f.Data)
		}
	}
	var schema map[string]any
	if err := yaml.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, node map[string]any)
	walk = func(prefix string, node map[string]any) {
		props, ok := node["properties"].(map[string]any)
		if !ok {
			if !strings.Contains(readme, "| `"+prefix+"` |") {
				t.Errorf("README.md has no table row for `%s`", prefix)
			}
			return
		}
		for name, sub := range props {
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			walk(key, sub.(map[string]any))
		}
	}
	walk("", schema)
}
