package clusteraudit

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/gracekeeper/gracekeeper/deploy"
	"github.com/gracekeeper/gracekeeper/policies"
)

// Fixtures for the audit tests: stored objects as the API server keeps them,
// with its defaults filled in.

// testCluster is a fake cluster that "audit" connects to.
type testCluster struct {
	kube    *fake.Clientset
	dynamic *dynamicfake.FakeDynamicClient
}

func newTestCluster(objects ...runtime.Object) *testCluster {
	kube := fake.NewClientset(objects...)
	kube.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &apiversion.Info{GitVersion: "v1.37.2"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{policyReportsResource: "PolicyReportList", openReportsResource: "ReportList", rolloutsResource: "RolloutList"})
	return &testCluster{kube: kube, dynamic: dyn}
}

// installOpenReportsCRD makes discovery serve openreports.io/v1alpha1 reports.
func (c *testCluster) installOpenReportsCRD() {
	c.kube.Resources = append(c.kube.Resources, &metav1.APIResourceList{
		GroupVersion: openReportsResource.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: "reports", Namespaced: true, Kind: "Report"}},
	})
}

// installPolicyReportCRD makes discovery serve wgpolicyk8s.io/v1alpha2 policyreports.
func (c *testCluster) installPolicyReportCRD() {
	c.kube.Resources = append(c.kube.Resources, &metav1.APIResourceList{
		GroupVersion: policyReportsResource.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: "policyreports", Namespaced: true, Kind: "PolicyReport"}},
	})
}

// audit runs "gracekeeper audit" against the fake cluster.
func (c *testCluster) audit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	connect, clock := connectCluster, now
	t.Cleanup(func() { connectCluster, now = connect, clock })
	connectCluster = func(genericclioptions.RESTClientGetter) (*clusterClients, error) {
		return &clusterClients{server: "https://127.0.0.1:6443", namespace: "shop", kube: c.kube, dynamic: c.dynamic}, nil
	}
	now = func() time.Time { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) }
	var out, errOut bytes.Buffer
	cmd := NewCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// chartWebhooks renders the chart's webhook configurations with values, as
// users install them.
func chartWebhooks(t *testing.T, values map[string]any) []runtime.Object {
	t.Helper()
	objs, err := deploy.RenderChart("gracekeeper", values)
	if err != nil {
		t.Fatal(err)
	}
	mutating, validating, err := deploy.WebhookConfigurations(objs)
	if err != nil {
		t.Fatal(err)
	}
	return []runtime.Object{mutating, validating}
}

func namespaceObj(name, mode string) *corev1.Namespace {
	labels := map[string]string{corev1.LabelMetadataName: name}
	if mode != "" {
		labels[policies.ModeLabel] = mode
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// graceful is a pod spec that passes every pod rule.
func graceful(name string) corev1.PodSpec {
	spec := podSpec(name)
	spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
	return spec
}

// podSpec is a plain pod spec with the API server's defaults.
func podSpec(name string) corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{{Name: name, Image: name + ":1"}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
	}
}

func template(app string, spec corev1.PodSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: spec}
}

func deploymentObj(ns, name string, spec corev1.PodSpec) *appsv1.Deployment {
	maxSurge, maxUnavailable := intstr.FromString("25%"), intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: template(name, spec),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &maxSurge, MaxUnavailable: &maxUnavailable}},
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
}

func statefulSetObj(ns, name string, spec corev1.PodSpec) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr(int32(2)),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:             template(name, spec),
			ServiceName:          name,
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
}

func daemonSetObj(ns, name string, spec corev1.PodSpec) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: appsv1.DaemonSetSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:             template(name, spec),
			UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
}

// podObj is a running pod; owner is "ReplicaSet/web-5d8f7c" or "" for a bare pod.
func podObj(ns, name, owner string, spec corev1.PodSpec) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec:       spec,
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if p.Spec.NodeName == "" {
		p.Spec.NodeName = "node-1" // running pods are scheduled
	}
	if kind, ownerName, ok := strings.Cut(owner, "/"); ok {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: ownerName, Controller: ptr(true), UID: "uid-owner"}}
		if kind == "ReplicaSet" {
			p.Labels = map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: ownerName[len(ownerName)-6:]}
		}
	}
	return p
}

func ptr[T any](v T) *T { return &v }
