// Package policies is gracekeeper's policy engine, what the webhook,
// `gracekeeper check` and `gracekeeper audit` share. It is pure: it takes a
// typed request (Review) and returns findings (Finding), and does no I/O.
// Its files layer as pod-security-admission's policy/ does: the registry on
// top (engine.go: Engine, Evaluate, the list of rules), the rules below it,
// one per rule_*.go with its id, check, help and warning rank, and below
// them what the rules read (evaluation.go, kinds.go, podspec.go, types.go...),
// which uses no rule (TestFilesUseNoFileAboveThem).
//
// It holds nothing of admission: which webhook entry receives which
// requests, the AdmissionReview decoder, each webhook's answer in a mode
// and the API server's warning budget are package webhook/admission's.
package policies

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// RuleID names a rule. The ids are defined in package v1alpha1, which the
// configuration and the exemption annotation are checked against.
type RuleID string

const (
	RulePreStopHook            RuleID = v1alpha1.RulePreStopHook
	RuleTerminationGracePeriod RuleID = v1alpha1.RuleTerminationGracePeriod
	RuleRollingUpdate          RuleID = v1alpha1.RuleRollingUpdate
	RuleRecreateStrategy       RuleID = v1alpha1.RuleRecreateStrategy
	RuleRevisionHistory        RuleID = v1alpha1.RuleRevisionHistory
	RuleUpdateStrategy         RuleID = v1alpha1.RuleUpdateStrategy
	RuleScaleToZero            RuleID = v1alpha1.RuleScaleToZero
	RuleScaleDown              RuleID = v1alpha1.RuleScaleDown
	RuleWorkloadDelete         RuleID = v1alpha1.RuleWorkloadDelete
	RulePodDelete              RuleID = v1alpha1.RulePodDelete
	RuleForceDelete            RuleID = v1alpha1.RuleForceDelete
	RuleReadinessProbe         RuleID = v1alpha1.RuleReadinessProbe
	RuleModeLabel              RuleID = v1alpha1.RuleModeLabel
	RuleChangeCause            RuleID = v1alpha1.RuleChangeCause
)

// Action is what a finding asks for.
type Action string

const (
	ActionPatch Action = "patch"
	ActionDeny  Action = "deny"
	ActionWarn  Action = "warn"
)

// Mode is a namespace's enforcement mode, carried by the webhook's URL path.
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeAudit   Mode = "audit"
	ModeOff     Mode = "off"
)

// Modes lists the values of the gracekeeper.io/mode label, strictest first.
func Modes() []Mode { return []Mode{ModeEnforce, ModeAudit, ModeOff} }

// ValidMode reports whether a mode label value is one gracekeeper knows.
func ValidMode(value string) bool { return slices.Contains(Modes(), Mode(value)) }

// Operation is the admission operation.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Names users see on objects and namespaces.
const (
	ModeLabel               = "gracekeeper.io/mode"
	ExemptAnnotation        = "gracekeeper.io/exempt"
	ExemptReasonAnnotation  = "gracekeeper.io/exempt-reason"
	mirrorPodAnnotation     = "kubernetes.io/config.mirror"
	podTemplateHashLabel    = "pod-template-hash"
	defaultGracePeriod      = int32(30)
	defaultReplicas         = int32(1)
	defaultRollingUpdateMax = "25%"
)

// Review is one request to evaluate: an admission request, or a manifest
// evaluated as a CREATE by `gracekeeper check`.
type Review struct {
	Operation Operation
	// Kind is the kind of the resource addressed: for the scale subresource it is
	// the parent's kind (Deployment, StatefulSet) and Object is an autoscaling/v1 Scale.
	Kind        string
	SubResource string
	Namespace   string
	Name        string
	// Object is the new object (nil on DELETE); OldObject the stored one (UPDATE, DELETE).
	Object        runtime.Object
	OldObject     runtime.Object
	DeleteOptions *metav1.DeleteOptions
	// Parent is the object a subresource request addresses (the Pod of an
	// eviction, the workload of a /scale), which the request does not carry;
	// for a namespace DELETE, what the namespace holds (*NamespaceWorkloads).
	// The webhook reads it from the API only when NeedsParent says the answer
	// depends on it; nil when not read.
	Parent runtime.Object
	// History is the reviewed workload's revisions, which the request does
	// not carry either: the webhook reads them only when NeedsHistory says the
	// answer depends on them; nil when not read.
	History *History
	User    UserInfo
	// FieldManager is the request's options.fieldManager (CreateOptions,
	// UpdateOptions; the API server turns a PATCH's PatchOptions into one of
	// them): the tool that wrote, e.g. kubectl-set or helm. "" when not given.
	FieldManager string
	DryRun       bool
}

// History is a workload's revisions, as `kubectl rollout history` lists them:
// a Deployment's ReplicaSets numbered by their deployment.kubernetes.io/revision
// annotation, a StatefulSet's or DaemonSet's ControllerRevisions.
type History struct {
	Revisions []Revision
}

// Revision is one revision of a workload.
type Revision struct {
	Number      int64                  `json:"number"`
	Template    corev1.PodTemplateSpec `json:"template"`
	ChangeCause string                 `json:"changeCause,omitempty"`
}

// UserInfo is the requester, as the API server authenticated it.
type UserInfo struct {
	Username string
	Groups   []string
}

// Finding is one rule's verdict on one object.
type Finding struct {
	Rule   RuleID `json:"rule"`
	Action Action `json:"action"`
	// Object is "kind/name" as kubectl spells it, e.g. deployment/nginx.
	Object string `json:"object"`
	// Message is one short line: an imperative for patches ("add preStop sleep 5s
	// to container \"nginx\""), the problem for denials and warnings.
	Message string `json:"message"`
	// Hint is the graceful alternative, added to denials.
	Hint string `json:"hint,omitempty"`
	// Patch holds explicit JSON Patch operations against the reviewed object.
	Patch []PatchOp `json:"patch,omitempty"`
	// Field is the JSON pointer of the field the finding is about in the
	// reviewed object, e.g. "/spec/strategy/type"; "" means the object itself,
	// or for a patch the path of its first operation (see Locus). Reports use it
	// to point at the line of a manifest; it is not part of the JSON form.
	Field string `json:"-"`
	// Container is the container a per-container finding is about; "" for
	// the others. Findings of one rule and object that differ only in it are
	// said in one warning for all of them (see package admission).
	Container string `json:"-"`
	// Containers is Message for several containers, with %s where their
	// list goes (`%s have no readinessProbe, so a rollout cannot wait for
	// them to serve`); "" when Container is.
	Containers string `json:"-"`
	// OnPods marks a pod-template finding: the webhook applies it to the Pods the
	// controller creates (so the workload is not rewritten), `check --fix` to the template.
	OnPods bool `json:"onPods,omitempty"`
}

// Locus is the JSON pointer of the field the finding is about: Field, else
// the first patch operation's path (a field it adds is located at its parent
// by the reader), else "" for the object itself.
func (f Finding) Locus() string {
	if f.Field == "" && len(f.Patch) > 0 {
		return f.Patch[0].Path
	}
	return f.Field
}

// IsMutation reports whether the mutating webhook applies this finding to the request's object.
func (f Finding) IsMutation() bool { return f.Action == ActionPatch && !f.OnPods }

// PatchOp is one RFC 6902 operation. Only add and replace are ever produced.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func add(path string, value any) PatchOp     { return PatchOp{Op: "add", Path: path, Value: value} }
func replace(path string, value any) PatchOp { return PatchOp{Op: "replace", Path: path, Value: value} }

// set adds an absent field or replaces a present one, as RFC 6902 requires.
func set(present bool, path string, value any) PatchOp {
	if present {
		return replace(path, value)
	}
	return add(path, value)
}

func objectRef(kind, name string) string {
	return fmt.Sprintf("%s/%s", lowerKind(kind), name)
}

// serviceAccountPrefix starts the username of every service account.
const serviceAccountPrefix = "system:serviceaccount:"

func lowerKind(kind string) string { return strings.ToLower(kind) }

// denies reports whether a finding denies or warns (is not a mutation).
func denies(findings []Finding) bool {
	for _, f := range findings {
		if !f.IsMutation() {
			return true
		}
	}
	return false
}
