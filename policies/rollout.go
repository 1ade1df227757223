package policies

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutGVK is Argo Rollouts' Rollout, a CustomResourceDefinition with a
// /scale subresource (spec.replicas) that replaces a Deployment.
var RolloutGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}

// Rollout holds the fields of an argoproj.io/v1alpha1 Rollout the rules read
// (github.com/argoproj/argo-rollouts pkg/apis/rollouts/v1alpha1 types.go),
// and nothing else: the argo-rollouts module pulls in k8s.io/kubernetes and
// client and controller code gracekeeper has no use for, and the webhook
// decodes the JSON the API server sends, where unknown fields are ignored
// and patches address fields by path, so fields this type leaves out survive.
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RolloutSpec `json:"spec,omitempty"`
}

// RolloutSpec is the part of a Rollout's spec the rules read.
type RolloutSpec struct {
	// Replicas is the desired pod count; absent means 1 (Argo's default).
	Replicas *int32 `json:"replicas,omitempty"`
	// Template is the pods' template; empty when WorkloadRef names a
	// Deployment whose template the Rollout uses instead.
	Template    corev1.PodTemplateSpec `json:"template,omitempty"`
	WorkloadRef *RolloutWorkloadRef    `json:"workloadRef,omitempty"`
	Strategy    RolloutStrategy        `json:"strategy,omitempty"`
}

// RolloutWorkloadRef names the object whose pod template a Rollout uses.
type RolloutWorkloadRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
}

// RolloutStrategy is a Rollout's strategy: canary or blueGreen. Only the
// canary rolls pods the way a Deployment does; blueGreen brings up a full
// preview before it switches and never takes the active pods down first.
type RolloutStrategy struct {
	Canary    *RolloutCanary `json:"canary,omitempty"`
	BlueGreen *struct{}      `json:"blueGreen,omitempty"`
}

// RolloutCanary holds the canary's surge settings. Argo reads both as
// percents or counts, with "25" (no sign) a percent, and defaults both to
// 25% (utils/defaults).
type RolloutCanary struct {
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (r *Rollout) DeepCopyObject() runtime.Object {
	if r == nil {
		return nil
	}
	out := *r
	r.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if r.Spec.Replicas != nil {
		out.Spec.Replicas = new(*r.Spec.Replicas)
	}
	r.Spec.Template.DeepCopyInto(&out.Spec.Template)
	if r.Spec.WorkloadRef != nil {
		out.Spec.WorkloadRef = new(*r.Spec.WorkloadRef)
	}
	if c := r.Spec.Strategy.Canary; c != nil {
		canary := RolloutCanary{}
		if c.MaxUnavailable != nil {
			canary.MaxUnavailable = new(*c.MaxUnavailable)
		}
		if c.MaxSurge != nil {
			canary.MaxSurge = new(*c.MaxSurge)
		}
		out.Spec.Strategy.Canary = &canary
	}
	if r.Spec.Strategy.BlueGreen != nil {
		out.Spec.Strategy.BlueGreen = &struct{}{}
	}
	return &out
}
