// Package v1alpha1 is the versioned policy configuration file, read by the
// webhook (`serve --config`), `check --config` and `audit --config`.
package v1alpha1

import (
	"encoding/json"
	"fmt"

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
)

// MutationAction is what a mutation rule does with a finding.
type MutationAction string

const (
	MutationPatch MutationAction = "patch"
	MutationDeny  MutationAction = "deny"
	MutationWarn  MutationAction = "warn"
)

type RecreateAction string

const (
	RecreateDeny    RecreateAction = "deny"
	RecreateConvert RecreateAction = "convert"
	RecreateWarn    RecreateAction = "warn"
)

// GuardAction is what a guard does with a finding.
type GuardAction string

const (
	GuardDeny GuardAction = "deny"
	GuardWarn GuardAction = "warn"
)

// ChangeCauseAction is what the change-cause rule does.
type ChangeCauseAction string

const (
	ChangeCauseRecord ChangeCauseAction = "record"
	ChangeCauseOff    ChangeCauseAction = "off"
)

// UnmarshalJSON reads record and off, and the false YAML 1.1 makes of an
// unquoted off (or no), as sigs.k8s.io/yaml reads the file: `changeCause:
// off` is the natural way to write it. true is refused, as any other value.
func (a *ChangeCauseAction) UnmarshalJSON(data []byte) error {
	if string(data) == "false" {
		*a = ChangeCauseOff
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("changeCause must be %q or %q: %w", ChangeCauseRecord, ChangeCauseOff, err)
	}
	*a = ChangeCauseAction(s)
	return nil
}
