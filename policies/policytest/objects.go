package policytest

import (
	"encoding/json"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Names of the benchmark's objects.
const (
	Namespace      = "shop"
	DeploymentName = "web"
	replicaSetName = "web-7d9f8b6c5d"
	podName        = "web-7d9f8b6c5d-x2x4k"
	// TypicalContainers is the container count of the typical pod: the app
	// and one sidecar.
	TypicalContainers = 2
)

// Requesters as the API server authenticates them: the ReplicaSet
// controller creates the pods, a person changes and deletes things.
var (
	ReplicaSetController = authenticationv1.UserInfo{
		Username: "system:serviceaccount:kube-system:replicaset-controller",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
	}
	Person = authenticationv1.UserInfo{Username: "jane@example.com", Groups: []string{"developers", "system:authenticated"}}
)

// PodTemplate is the pod a Deployment's template describes, as a user writes
// it: every container has probes, resources, env and mounts, and nothing has
// a preStop hook or a grace period long enough for one, so gracekeeper and
// the in-tree policies both have work to do. The first container is the app,
// the others sidecars.
func PodTemplate(containers int) corev1.PodTemplateSpec {
	spec := corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, DefaultMode: ptr.To[int32](0o644)}}},
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "web-tls", DefaultMode: ptr.To[int32](0o640)}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
				Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
		},
		TerminationGracePeriodSeconds: ptr.To[int64](20),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001), FSGroup: ptr.To[int64](10001),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}},
	}
	for i := range containers {
		spec.Containers = append(spec.Containers, container(i))
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": "web", "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": "2.4.1"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
		},
		Spec: spec,
	}
}

// container is the i-th container of the pod: the app, then sidecars.
func container(i int) corev1.Container {
	name, image, port := "app", "registry.example.com/shop/web:2.4.1", int32(8080)
	if i > 0 {
		name, image, port = fmt.Sprintf("sidecar-%d", i), "registry.example.com/platform/log-shipper:1.9.0", 9000+int32(i)
	}
	httpGet := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP}}
	}
	return corev1.Container{
		Name:  name,
		Image: image,
		Args:  []string{"--listen=:" + fmt.Sprint(port), "--config=/etc/web/config.yaml"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		EnvFrom: []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-env"}},
		}},
		Env: []corev1.EnvVar{
			{Name: "LOG_LEVEL", Value: "info"},
			{Name: "GOMAXPROCS", Value: "2"},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
			{Name: "DATABASE_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-db"}, Key: "password"}}},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/web", ReadOnly: true},
			{Name: "tls", MountPath: "/etc/web/tls", ReadOnly: true},
			{Name: "tmp", MountPath: "/tmp"},
		},
		LivenessProbe:  &corev1.Probe{ProbeHandler: httpGet("/livez"), PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
		ReadinessProbe: &corev1.Probe{ProbeHandler: httpGet("/readyz"), PeriodSeconds: 5, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
		StartupProbe:   &corev1.Probe{ProbeHandler: httpGet("/livez"), PeriodSeconds: 2, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}

// NewPod is the pod a user or controller sends to the API server: the
// template's, owned by the Deployment's ReplicaSet.
func NewPod(containers int) *corev1.Pod {
	tmpl := PodTemplate(containers)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: tmpl.ObjectMeta,
		Spec:       tmpl.Spec,
	}
	pod.Name, pod.GenerateName, pod.Namespace = podName, replicaSetName+"-", Namespace
	pod.Labels["pod-template-hash"] = "7d9f8b6c5d"
	pod.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "ReplicaSet", Name: replicaSetName,
		UID: "5c1e0f52-0b1c-4f0e-9d7a-3a1b2c3d4e5f", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
	return pod
}

// AdmittedPod is a pod as the API server sends it to a webhook on CREATE:
// NewPod with the API server's defaults and the service account token
// volume its admission plugin adds.
func AdmittedPod(containers int) *corev1.Pod {
	pod := NewPod(containers)
	spec := &pod.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "kube-api-access-9xk2p", VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](0o644), Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}},
	}})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{
			Name: "kube-api-access-9xk2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true})
		c.ImagePullPolicy = corev1.PullIfNotPresent
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	spec.RestartPolicy = corev1.RestartPolicyAlways
	spec.DNSPolicy = corev1.DNSClusterFirst
	spec.ServiceAccountName, spec.DeprecatedServiceAccount = "default", "default"
	spec.SchedulerName = corev1.DefaultSchedulerName
	spec.EnableServiceLinks = ptr.To(true)
	spec.Priority = ptr.To[int32](0)
	spec.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
	spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable}
	return pod
}

// RunningPod is the stored pod of a DELETE: the admitted pod, with the hook
// and grace period gracekeeper gave it, scheduled and running.
func RunningPod() *corev1.Pod {
	pod := AdmittedPod(TypicalContainers)
	pod.UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	pod.ResourceVersion = "48213"
	pod.CreationTimestamp = metav1.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	}
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Spec.NodeName = "node-1"
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.244.1.17"
	return pod
}

// NewDeployment is the Deployment of the typical pod, as a user writes it,
// with the API server's defaults for its strategy and history.
func NewDeployment(image string) *appsv1.Deployment {
	tmpl := PodTemplate(TypicalContainers)
	tmpl.Spec.Containers[0].Image = image
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: DeploymentName, Namespace: Namespace, Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: tmpl,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

// DeploymentUpdate is the new and stored Deployment of an UPDATE:
// `kubectl set image` on a running Deployment.
func DeploymentUpdate() (updated, stored *appsv1.Deployment) {
	stored = NewDeployment("registry.example.com/shop/web:2.4.1")
	stored.UID, stored.ResourceVersion, stored.Generation = "7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d", "48100", 4
	stored.Status = appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	updated = stored.DeepCopy()
	updated.Spec.Template.Spec.Containers[0].Image = "registry.example.com/shop/web:2.5.0"
	return updated, stored
}

// ScaleUpdate is the new and stored Scale of an UPDATE of
// deployments/scale: `kubectl scale --replicas=5` of the running Deployment.
func ScaleUpdate() (updated, stored *autoscalingv1.Scale) {
	stored = &autoscalingv1.Scale{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: DeploymentName, Namespace: Namespace, UID: "7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d", ResourceVersion: "48100"},
		Spec:       autoscalingv1.ScaleSpec{Replicas: 3},
		Status:     autoscalingv1.ScaleStatus{Replicas: 3, Selector: "app=web"},
	}
	updated = stored.DeepCopy()
	updated.Spec.Replicas = 5
	return updated, stored
}

// PodDeleteOptions are those of `kubectl delete pod`.
func PodDeleteOptions() *metav1.DeleteOptions {
	return &metav1.DeleteOptions{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "DeleteOptions"},
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
	}
}

// Reviews are the admission reviews the benchmarks send, each as the API
// server serializes it.
type Reviews struct {
	// PodCreate is the typical pod (TypicalContainers) created by the
	// ReplicaSet controller.
	PodCreate []byte
	// DeploymentUpdate changes the app's image.
	DeploymentUpdate []byte
	// ScaleUpdate scales the Deployment from 3 to 5 replicas.
	ScaleUpdate []byte
	// PodDelete is a person deleting a running pod.
	PodDelete []byte
}

// NewReviews builds every review.
func NewReviews() (*Reviews, error) {
	var r Reviews
	var err error
	if r.PodCreate, err = PodCreateReview(TypicalContainers); err != nil {
		return nil, err
	}
	updated, stored := DeploymentUpdate()
	if r.DeploymentUpdate, err = encodeReview(review{
		op: admissionv1.Update, resource: "deployments", group: "apps", kind: "Deployment",
		name: DeploymentName, object: updated, oldObject: stored, user: Person,
		options: &metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "UpdateOptions"}, FieldManager: "kubectl-set"},
	}); err != nil {
		return nil, err
	}
	newScale, oldScale := ScaleUpdate()
	if r.ScaleUpdate, err = encodeReview(review{
		op: admissionv1.Update, resource: "deployments", subResource: "scale", group: "apps", kind: "Scale",
		name: DeploymentName, object: newScale, oldObject: oldScale, user: Person,
		options: &metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "UpdateOptions"}, FieldManager: "kubectl-scale"},
	}); err != nil {
		return nil, err
	}
	if r.PodDelete, err = encodeReview(review{
		op: admissionv1.Delete, resource: "pods", kind: "Pod", name: podName, oldObject: RunningPod(), user: Person,
		options: PodDeleteOptions(),
	}); err != nil {
		return nil, err
	}
	return &r, nil
}

// PodCreateReview is the CREATE review of AdmittedPod(containers), from the
// ReplicaSet controller.
func PodCreateReview(containers int) ([]byte, error) {
	return encodeReview(review{
		op: admissionv1.Create, resource: "pods", kind: "Pod", name: podName, object: AdmittedPod(containers), user: ReplicaSetController,
		options: &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}},
	})
}

// review is one admission request to encode.
type review struct {
	op                           admissionv1.Operation
	group, resource, subResource string
	kind, name                   string
	object, oldObject            runtime.Object
	// rawObject, when set, is the object's JSON, sent as it is.
	rawObject []byte
	options   runtime.Object
	user      authenticationv1.UserInfo
}

func encodeReview(r review) ([]byte, error) {
	raw := func(obj runtime.Object) (runtime.RawExtension, error) {
		if obj == nil {
			return runtime.RawExtension{}, nil
		}
		data, err := json.Marshal(obj)
		return runtime.RawExtension{Raw: data}, err
	}
	object, err := raw(r.object)
	if err != nil {
		return nil, fmt.Errorf("encode object: %w", err)
	}
	if r.rawObject != nil {
		object.Raw = r.rawObject
	}
	oldObject, err := raw(r.oldObject)
	if err != nil {
		return nil, fmt.Errorf("encode oldObject: %w", err)
	}
	options, err := raw(r.options)
	if err != nil {
		return nil, fmt.Errorf("encode options: %w", err)
	}
	gvr := metav1.GroupVersionResource{Group: r.group, Version: "v1", Resource: r.resource}
	gvk := metav1.GroupVersionKind{Group: r.group, Version: "v1", Kind: r.kind}
	if r.kind == "Scale" {
		gvk.Group = "autoscaling"
	}
	data, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:                types.UID(fmt.Sprintf("3f6c1b2a-%s-4c5d-8e9f-%s", r.op, r.resource)),
			Kind:               gvk,
			Resource:           gvr,
			SubResource:        r.subResource,
			RequestKind:        &gvk,
			RequestResource:    &gvr,
			RequestSubResource: r.subResource,
			Name:               r.name,
			Namespace:          Namespace,
			Operation:          r.op,
			UserInfo:           r.user,
			Object:             object,
			OldObject:          oldObject,
			DryRun:             ptr.To(false),
			Options:            options,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encode AdmissionReview: %w", err)
	}
	return data, nil
}

// MakeGraceful gives a pod spec what gracekeeper would: a preStop sleep of
// 5 s in every container and a grace period of 30 s, so that gracekeeper
// has nothing to say about it and its matchConditions skip it.
func MakeGraceful(spec *corev1.PodSpec) {
	for i := range spec.Containers {
		spec.Containers[i].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	}
	spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
}
