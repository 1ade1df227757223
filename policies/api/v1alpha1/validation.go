package v1alpha1

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"
)

// The rule ids, defined here once: the configuration and the exemption
// annotation name them, and package policies registers a rule under each.
// They are stable: they also appear in messages, metrics and logs.
const (
	RulePreStopHook            = "prestop-hook"
	RuleTerminationGracePeriod = "termination-grace-period"
	RuleRollingUpdate          = "rolling-update"
	RuleRecreateStrategy       = "recreate-strategy"
	RuleRevisionHistory        = "revision-history"
	RuleUpdateStrategy         = "update-strategy"
	RuleScaleToZero            = "scale-to-zero"
	RuleScaleDown              = "scale-down"
	RuleWorkloadDelete         = "workload-delete"
	RulePodDelete              = "pod-delete"
	RuleForceDelete            = "force-delete"
	RuleReadinessProbe         = "readiness-probe"
	RuleModeLabel              = "mode-label"
	RuleChangeCause            = "change-cause"
	// AllRules names every rule at once, in an exemption and in the annotation.
	AllRules = "all"
)

// RuleIDs are the ids an exemption may name. The policies package checks at
// start-up that its registry has a rule for each and no other.
var RuleIDs = []string{
	RulePreStopHook, RuleTerminationGracePeriod, RuleRollingUpdate, RuleRecreateStrategy,
	RuleRevisionHistory, RuleUpdateStrategy, RuleScaleToZero, RuleScaleDown, RuleWorkloadDelete,
	RulePodDelete, RuleForceDelete, RuleReadinessProbe, RuleModeLabel,
	RuleChangeCause,
}

const maxSeconds = 3600

// Validate checks a defaulted configuration and returns every error, each with its field path.
func Validate(c *Configuration) field.ErrorList {
	var errs field.ErrorList
	if c.APIVersion != GroupVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), c.APIVersion, []string{GroupVersion}))
	}
	if c.Kind != Kind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), c.Kind, []string{Kind}))
	}

	preStop := field.NewPath("preStop")
	errs = append(errs, validateSeconds(preStop.Child("sleepSeconds"), *c.PreStop.SleepSeconds)...)
	errs = append(errs, validateEnum(preStop.Child("action"), c.PreStop.Action, PreStopAuto, PreStopSleep, PreStopExec, PreStopOff)...)
	for i, kind := range c.PreStop.SkipOwnerKinds {
		if kind == "" || strings.ContainsAny(kind, " /") {
			errs = append(errs, field.Invalid(preStop.Child("skipOwnerKinds").Index(i), kind, "must be a kind such as Job"))
		}
	}
	errs = append(errs, validateSeconds(field.NewPath("shutdownSeconds"), *c.ShutdownSeconds)...)
	errs = append(errs, validateSeconds(field.NewPath("sidecarShutdownSeconds"), *c.SidecarShutdownSeconds)...)

	rollingUpdate := field.NewPath("rollingUpdate")
	errs = append(errs, validateEnum(rollingUpdate.Child("action"), c.RollingUpdate.Action, MutationPatch, MutationDeny, MutationWarn, MutationOff)...)
	errs = append(errs, validateSurge(rollingUpdate.Child("maxSurge"), *c.RollingUpdate.MaxSurge)...)

	errs = append(errs, validateEnum(field.NewPath("recreate"), c.Recreate, RecreateDeny, RecreateConvert, RecreateWarn, RecreateOff)...)

	history := field.NewPath("revisionHistory")
	if m := *c.RevisionHistory.Minimum; m < 0 || m > 100 {
		errs = append(errs, field.Invalid(history.Child("minimum"), m, "must be between 0 and 100"))
	}
	errs = append(errs, validateEnum(history.Child("action"), c.RevisionHistory.Action, MutationPatch, MutationDeny, MutationWarn, MutationOff)...)

	errs = append(errs, validateEnum(field.NewPath("workloadDelete"), c.WorkloadDelete, GuardDeny, GuardWarn, GuardOff)...)
	errs = append(errs, validateEnum(field.NewPath("podDelete"), c.PodDelete, GuardDeny, GuardWarn, GuardOff)...)
	errs = append(errs, validateEnum(field.NewPath("scaleDown"), c.ScaleDown, GuardWarn, GuardDeny, GuardOff)...)
	for _, sw := range c.switches() {
		errs = append(errs, validateEnum(field.NewPath(sw.name), *sw.value, SwitchOn, SwitchOff)...)
	}
	errs = append(errs, validateEnum(field.NewPath("changeCause"), c.ChangeCause, ChangeCauseRecord, ChangeCauseOff)...)

	if c.ServerVersion != "" {
		if _, err := version.ParseGeneric(c.ServerVersion); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("serverVersion"), c.ServerVersion, `must be a Kubernetes version such as "1.32" or "v1.33.1"`))
		}
	}
	for i, e := range c.Exemptions {
		errs = append(errs, validateExemption(field.NewPath("exemptions").Index(i), e)...)
	}
	return errs
}

// switches are the configuration's Switch fields, by their JSON names.
func (c *Configuration) switches() []struct {
	name, rule string
	value      *Switch
} {
	return []struct {
		name, rule string
		value      *Switch
	}{
		{"terminationGracePeriod", RuleTerminationGracePeriod, &c.TerminationGracePeriod},
		{"updateStrategy", RuleUpdateStrategy, &c.UpdateStrategy},
		{"scaleToZero", RuleScaleToZero, &c.ScaleToZero},
		{"forceDelete", RuleForceDelete, &c.ForceDelete},
		{"readinessProbe", RuleReadinessProbe, &c.ReadinessProbe},
		{"modeLabel", RuleModeLabel, &c.ModeLabel},
	}
}

func validateSeconds(path *field.Path, v int32) field.ErrorList {
	if v < 0 || v > maxSeconds {
		return field.ErrorList{field.Invalid(path, v, fmt.Sprintf("must be between 0 and %d", maxSeconds))}
	}
	return nil
}

func validateEnum[T ~string](path *field.Path, v T, allowed ...T) field.ErrorList {
	if slices.Contains(allowed, v) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return field.ErrorList{field.NotSupported(path, v, names)}
}

func validateSurge(path *field.Path, v intstr.IntOrString) field.ErrorList {
	switch {
	case v.Type == intstr.Int && v.IntVal <= 0:
		return field.ErrorList{field.Invalid(path, v.IntVal, "must be greater than 0, since maxUnavailable is set to 0 with it")}
	case v.Type == intstr.String:
		var pct int
		if _, err := fmt.Sscanf(v.StrVal, "%d%%", &pct); err != nil || fmt.Sprintf("%d%%", pct) != v.StrVal || pct <= 0 || pct > 100 {
			return field.ErrorList{field.Invalid(path, v.StrVal, `must be a count or a percentage between "1%" and "100%"`)}
		}
	}
	return nil
}

func validateExemption(path *field.Path, e Exemption) field.ErrorList {
	var errs field.ErrorList
	if len(e.Rules) == 0 {
		errs = append(errs, field.Required(path.Child("rules"), `name the rules to exempt, or "all"`))
	}
	for i, rule := range e.Rules {
		if rule != AllRules && !slices.Contains(RuleIDs, rule) {
			errs = append(errs, field.NotSupported(path.Child("rules").Index(i), rule, append([]string{AllRules}, RuleIDs...)))
		}
	}
	if len(e.Users)+len(e.Groups)+len(e.ServiceAccounts) == 0 {
		errs = append(errs, field.Required(path, "set users, groups or serviceAccounts: an exemption for nobody does nothing"))
	}
	for i, sa := range e.ServiceAccounts {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			errs = append(errs, field.Invalid(path.Child("serviceAccounts").Index(i), sa, `must be "namespace/name"`))
		}
	}
	return errs
}
