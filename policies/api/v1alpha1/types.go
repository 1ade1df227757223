// Package v1alpha1 is the versioned policy configuration file, read by the
// webhook (`serve --config`), `check --config` and `audit --config`.
package v1alpha1

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	GroupVersion = "gracekeeper.io/v1alpha1"
	Kind         = "Configuration"
)

// Configuration holds every tunable of the rules. Every field is optional.
type Configuration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	PreStop PreStop `json:"preStop"`
	// ShutdownSeconds is how long an app needs to drain after SIGTERM; the grace
	// period is raised to the longest preStop sleep plus this.
	ShutdownSeconds *int32 `json:"shutdownSeconds,omitempty"`
	// SidecarShutdownSeconds is how long each native sidecar (an init container
	// with restartPolicy Always) needs after SIGTERM. The kubelet stops sidecars
	// only after every main container has exited, one after another in reverse
	// order, within the same grace period, so the grace period covers this too.
	SidecarShutdownSeconds *int32          `json:"sidecarShutdownSeconds,omitempty"`
	RollingUpdate          RollingUpdate   `json:"rollingUpdate"`
	Recreate               RecreateAction  `json:"recreate,omitempty"`
	RevisionHistory        RevisionHistory `json:"revisionHistory"`
	WorkloadDelete         GuardAction     `json:"workloadDelete,omitempty"`
	PodDelete              GuardAction     `json:"podDelete,omitempty"`
	// ScaleDown is what one write that takes a serving workload down by more
	// than half of its replicas gets (warn, or deny in enforce mode).
	ScaleDown GuardAction `json:"scaleDown,omitempty"`
	// ChangeCause is whether a write that changes a workload's pod template
	// gets the kubernetes.io/change-cause annotation `kubectl rollout history`
	// shows (record), or not (off).
	ChangeCause ChangeCauseAction `json:"changeCause,omitempty"`
	// The switches of the rules whose action is fixed: on (the default) or
	// off. Every other rule is switched off with the action off.
	TerminationGracePeriod Switch `json:"terminationGracePeriod,omitempty"`
	UpdateStrategy         Switch `json:"updateStrategy,omitempty"`
	ScaleToZero            Switch `json:"scaleToZero,omitempty"`
	ForceDelete            Switch `json:"forceDelete,omitempty"`
	ReadinessProbe         Switch `json:"readinessProbe,omitempty"`
	ModeLabel              Switch `json:"modeLabel,omitempty"`
	// ServerVersion overrides the API server version found by discovery, e.g. "1.32".
	// It decides the preStop action when preStop.action is auto.
	ServerVersion string      `json:"serverVersion,omitempty"`
	Exemptions    []Exemption `json:"exemptions,omitempty"`
}

type PreStop struct {
	SleepSeconds *int32        `json:"sleepSeconds,omitempty"`
	Action       PreStopAction `json:"action,omitempty"`
	// SkipOwnerKinds are controller kinds whose pods run to completion and need no hook.
	SkipOwnerKinds []string `json:"skipOwnerKinds,omitempty"`
}

type RollingUpdate struct {
	Action MutationAction `json:"action,omitempty"`
	// MaxSurge is set with maxUnavailable: 0 when the current value cannot surge.
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
}

type RevisionHistory struct {
	Minimum *int32         `json:"minimum,omitempty"`
	Action  MutationAction `json:"action,omitempty"`
}

// Exemption switches the named rules off for requests from these identities.
type Exemption struct {
	Rules  []string `json:"rules"`
	Users  []string `json:"users,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// ServiceAccounts are "namespace/name".
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

type PreStopAction string

const (
	PreStopAuto  PreStopAction = "auto"
	PreStopSleep PreStopAction = "sleep"
	PreStopExec  PreStopAction = "exec"
	PreStopOff   PreStopAction = Off
)

// MutationAction is what a mutation rule does with a finding.
type MutationAction string

const (
	MutationPatch MutationAction = "patch"
	MutationDeny  MutationAction = "deny"
	MutationWarn  MutationAction = "warn"
	MutationOff   MutationAction = Off
)

type RecreateAction string

const (
	RecreateDeny    RecreateAction = "deny"
	RecreateConvert RecreateAction = "convert"
	RecreateWarn    RecreateAction = "warn"
	RecreateOff     RecreateAction = Off
)

// GuardAction is what a guard does with a finding.
type GuardAction string

const (
	GuardDeny GuardAction = "deny"
	GuardWarn GuardAction = "warn"
	GuardOff  GuardAction = Off
)

// ChangeCauseAction is what the change-cause rule does.
type ChangeCauseAction string

const (
	ChangeCauseRecord ChangeCauseAction = "record"
	ChangeCauseOff    ChangeCauseAction = Off
)

// Off switches a rule off, as its action or its Switch.
const Off = "off"

// Switch turns a rule whose action is fixed on or off.
type Switch string

const (
	SwitchOn  Switch = "on"
	SwitchOff Switch = Off
)

// YAML 1.1, which sigs.k8s.io/yaml reads (as kubectl does), takes an
// unquoted off or on for a boolean: "readinessProbe: off" arrives as false.
// The actions and switches read false as off, and a Switch reads true as on.

func (a *PreStopAction) UnmarshalJSON(data []byte) error  { return unmarshalAction(data, a) }
func (a *MutationAction) UnmarshalJSON(data []byte) error { return unmarshalAction(data, a) }
func (a *RecreateAction) UnmarshalJSON(data []byte) error { return unmarshalAction(data, a) }
func (a *GuardAction) UnmarshalJSON(data []byte) error    { return unmarshalAction(data, a) }
func (a *ChangeCauseAction) UnmarshalJSON(data []byte) error {
	return unmarshalAction(data, a)
}

func (s *Switch) UnmarshalJSON(data []byte) error {
	if string(data) == "true" {
		*s = SwitchOn
		return nil
	}
	return unmarshalAction(data, s)
}

func unmarshalAction[T ~string](data []byte, into *T) error {
	if string(data) == "false" {
		*into = Off
		return nil
	}
	var v string
	if err := json.Unmarshal(data, &v); err != nil {
		return &actionError{got: string(data)}
	}
	*into = T(v)
	return nil
}

// actionError is an action or switch that is no string. The JSON decoder
// does not say which field a custom decoder failed in; Parse finds it.
type actionError struct{ got string }

func (e *actionError) Error() string { return "want a string such as off, got " + e.got }

// RuleOff reports whether the configuration switches the rule off, for
// every requester and object: its action or its Switch is off.
func (c *Configuration) RuleOff(id string) bool {
	switch id {
	case RulePreStopHook:
		return c.PreStop.Action == PreStopOff
	case RuleRollingUpdate:
		return c.RollingUpdate.Action == MutationOff
	case RuleRecreateStrategy:
		return c.Recreate == RecreateOff
	case RuleRevisionHistory:
		return c.RevisionHistory.Action == MutationOff
	case RuleScaleDown:
		return c.ScaleDown == GuardOff
	case RuleWorkloadDelete:
		return c.WorkloadDelete == GuardOff
	case RulePodDelete:
		return c.PodDelete == GuardOff
	case RuleChangeCause:
		return c.ChangeCause == ChangeCauseOff
	}
	for _, sw := range c.switches() {
		if sw.rule == id {
			return *sw.value == SwitchOff
		}
	}
	return false
}
