package policies

import (
	"errors"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"
)

// Kind is one kind of object the engine reads: how the API server serves it,
// how to decode it, and what the rules read from it. Adding a kind is one
// entry in kinds plus its rules' logic; which webhook entries receive it is
// package admission's entry table.
type Kind struct {
	// GVK names the objects in the version gracekeeper decodes, the one the
	// API server converts them to for the webhook (e.g. apps/v1 Deployment).
	GVK schema.GroupVersionKind
	// Resource is the resource the API server serves the kind as, e.g. "deployments".
	Resource string
	// Scale says whether the webhook judges the scale subresource (kubectl
	// scale), whose requests carry an autoscaling/v1 Scale, never the object.
	Scale bool
	// Evict says whether the webhook judges the eviction subresource (kubectl
	// drain), whose requests carry a policy/v1 Eviction naming the object.
	Evict bool
	// History is the resource whose objects hold the kind's rollout history,
	// as `kubectl rollout history` reads it (replicasets for a Deployment,
	// controllerrevisions for a StatefulSet or DaemonSet); "" for a kind
	// without one. change-cause records the kinds that have one.
	History string

	new func() runtime.Object
	// template is the pod template, at templatePath; nil for a kind without one.
	template     func(runtime.Object) *corev1.PodTemplateSpec
	templatePath string
	// replicas is spec.replicas (absent means 1); nil for a kind without it.
	replicas func(runtime.Object) *int32
	// running is how many pods the stored object runs; nil for a kind that
	// workload-delete does not guard.
	running func(runtime.Object) int32
	// revisionHistoryLimit is spec.revisionHistoryLimit; nil for a kind without it.
	revisionHistoryLimit func(runtime.Object) *int32
	// onDelete reports updateStrategy OnDelete; nil for a kind without the field.
	onDelete func(runtime.Object) bool
}

// ScaleGVK is the kind of the objects a scale subresource request carries.
var ScaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// EvictionGVK is the kind of the objects an eviction subresource request carries.
var EvictionGVK = policyv1.SchemeGroupVersion.WithKind("Eviction")

// kinds is the table of the kinds the engine reads.
var kinds = []Kind{
	{
		GVK: corev1.SchemeGroupVersion.WithKind("Pod"), Resource: "pods", Evict: true,
		new: func() runtime.Object { return &corev1.Pod{} },
	},
	{
		// The mode-label check; a namespace's DELETE deletes every workload in it.
		GVK: corev1.SchemeGroupVersion.WithKind("Namespace"), Resource: "namespaces",
		new: func() runtime.Object { return &corev1.Namespace{} },
	},
	{
		GVK: appsv1.SchemeGroupVersion.WithKind("Deployment"), Resource: "deployments", Scale: true,
		History:              "replicasets",
		new:                  func() runtime.Object { return &appsv1.Deployment{} },
		template:             field(func(o *appsv1.Deployment) *corev1.PodTemplateSpec { return &o.Spec.Template }),
		templatePath:         "/spec/template",
		replicas:             field(func(o *appsv1.Deployment) *int32 { return o.Spec.Replicas }),
		running:              field(func(o *appsv1.Deployment) int32 { return replicas(o.Spec.Replicas) }),
		revisionHistoryLimit: field(func(o *appsv1.Deployment) *int32 { return o.Spec.RevisionHistoryLimit }),
	},
	{
		GVK: appsv1.SchemeGroupVersion.WithKind("StatefulSet"), Resource: "statefulsets", Scale: true,
		History:              "controllerrevisions",
		new:                  func() runtime.Object { return &appsv1.StatefulSet{} },
		template:             field(func(o *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
		templatePath:         "/spec/template",
		replicas:             field(func(o *appsv1.StatefulSet) *int32 { return o.Spec.Replicas }),
		running:              field(func(o *appsv1.StatefulSet) int32 { return replicas(o.Spec.Replicas) }),
		revisionHistoryLimit: field(func(o *appsv1.StatefulSet) *int32 { return o.Spec.RevisionHistoryLimit }),
		onDelete: field(func(o *appsv1.StatefulSet) bool {
			return o.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType
		}),
	},
	{
		GVK: appsv1.SchemeGroupVersion.WithKind("DaemonSet"), Resource: "daemonsets",
		History:              "controllerrevisions",
		new:                  func() runtime.Object { return &appsv1.DaemonSet{} },
		template:             field(func(o *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
		templatePath:         "/spec/template",
		running:              field(func(o *appsv1.DaemonSet) int32 { return o.Status.DesiredNumberScheduled }),
		revisionHistoryLimit: field(func(o *appsv1.DaemonSet) *int32 { return o.Spec.RevisionHistoryLimit }),
		onDelete: field(func(o *appsv1.DaemonSet) bool {
			return o.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType
		}),
	},
	{
		// Bare, or orphaned by delete deployment --cascade=orphan.
		GVK: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), Resource: "replicasets", Scale: true,
		new:          func() runtime.Object { return &appsv1.ReplicaSet{} },
		template:     field(func(o *appsv1.ReplicaSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
		templatePath: "/spec/template",
		replicas:     field(func(o *appsv1.ReplicaSet) *int32 { return o.Spec.Replicas }),
		running:      field(func(o *appsv1.ReplicaSet) int32 { return replicas(o.Spec.Replicas) }),
	},
	{
		// Argo Rollouts' replacement for a Deployment: guarded like one, from
		// its own objects and /scale (see Rollout for why a local type).
		GVK: RolloutGVK, Resource: "rollouts", Scale: true,
		new:          func() runtime.Object { return &Rollout{} },
		template:     field(func(o *Rollout) *corev1.PodTemplateSpec { return &o.Spec.Template }),
		templatePath: "/spec/template",
		replicas:     field(func(o *Rollout) *int32 { return o.Spec.Replicas }),
		running:      field(func(o *Rollout) int32 { return replicas(o.Spec.Replicas) }),
	},
	{
		GVK: batchv1.SchemeGroupVersion.WithKind("Job"), Resource: "jobs",
		new:          func() runtime.Object { return &batchv1.Job{} },
		template:     field(func(o *batchv1.Job) *corev1.PodTemplateSpec { return &o.Spec.Template }),
		templatePath: "/spec/template",
	},
	{
		GVK: batchv1.SchemeGroupVersion.WithKind("CronJob"), Resource: "cronjobs",
		new:          func() runtime.Object { return &batchv1.CronJob{} },
		template:     field(func(o *batchv1.CronJob) *corev1.PodTemplateSpec { return &o.Spec.JobTemplate.Spec.Template }),
		templatePath: "/spec/jobTemplate/spec/template",
	},
}

// field adapts an accessor of one Go type to the table. The table calls it
// only on objects of its own kind (see kindOf), so the assertion holds.
func field[T runtime.Object, V any](get func(T) V) func(runtime.Object) V {
	return func(obj runtime.Object) V { return get(obj.(T)) }
}

var (
	kindsByGVK  = map[schema.GroupVersionKind]*Kind{}
	kindsByType = map[reflect.Type]*Kind{}
)

func init() {
	for i := range kinds {
		k := &kinds[i]
		kindsByGVK[k.GVK] = k
		kindsByType[reflect.TypeOf(k.new())] = k
	}
}

// Kinds returns the table of the kinds the engine reads, in a fixed order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// KindOf returns the table's entry for a group, version and kind.
func KindOf(gvk schema.GroupVersionKind) (Kind, bool) {
	k, ok := kindsByGVK[gvk]
	if !ok {
		return Kind{}, false
	}
	return *k, true
}

// kindOf returns the table's entry for a decoded object, nil for an object of
// another kind (a Scale, or nil).
func kindOf(obj runtime.Object) *Kind {
	if obj == nil {
		return nil
	}
	return kindsByType[reflect.TypeOf(obj)]
}

// ErrUnknownKind is returned by Decode for a kind the engine does not read.
var ErrUnknownKind = errors.New("gracekeeper reads no objects of this kind")

// NewObject is an empty object of a kind Decode reads, for a decoder to
// fill; a gvk the engine does not read is ErrUnknownKind.
func NewObject(gvk schema.GroupVersionKind) (runtime.Object, error) {
	switch k, ok := kindsByGVK[gvk]; {
	case ok:
		return k.new(), nil
	case gvk == ScaleGVK:
		return &autoscalingv1.Scale{}, nil
	case gvk == EvictionGVK:
		return &policyv1.Eviction{}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownKind, FormatGVK(gvk))
}

// Decode decodes one JSON object of a kind in the table, an autoscaling/v1
// Scale or a policy/v1 Eviction, the way the API server does: field names are case-sensitive, fields
// the compiled k8s.io/api does not know are ignored, and integers keep their
// precision. An object naming another kind is refused rather than read as gvk
// (a typed decoder would turn a Scale into an empty Deployment); one naming
// no kind is read as gvk. A gvk the engine does not read is ErrUnknownKind.
func Decode(gvk schema.GroupVersionKind, data []byte) (runtime.Object, error) {
	obj, err := NewObject(gvk)
	if err != nil {
		return nil, err
	}
	// The kind is decoded with the object, in one pass: JSON decoding is most
	// of what a review costs. Only an object that does not decode is read
	// again, for a kind that would explain why.
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
		var meta metav1.TypeMeta
		if sigsjson.UnmarshalCaseSensitivePreserveInts(data, &meta) == nil {
			if err := checkObjectKind(meta.GroupVersionKind(), gvk); err != nil {
				return nil, err
			}
		}
		return nil, err
	}
	if err := checkObjectKind(obj.GetObjectKind().GroupVersionKind(), gvk); err != nil {
		return nil, err
	}
	return obj, nil
}

func checkObjectKind(got, want schema.GroupVersionKind) error {
	if !got.Empty() && got != want {
		return fmt.Errorf("object is %s, want %s", FormatGVK(got), FormatGVK(want))
	}
	return nil
}

// FormatGVK spells a kind as in an apiVersion field: "apps/v1 Deployment", "v1 Pod".
func FormatGVK(gvk schema.GroupVersionKind) string {
	return gvk.GroupVersion().String() + " " + gvk.Kind
}

// replicas is a Deployment's or StatefulSet's desired count: absent means 1.
func replicas(r *int32) int32 {
	if r == nil {
		return defaultReplicas
	}
	return *r
}
