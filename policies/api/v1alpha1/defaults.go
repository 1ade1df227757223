package v1alpha1

import "k8s.io/apimachinery/pkg/util/intstr"

// SetDefaults fills in every field the file leaves out.
func SetDefaults(c *Configuration) {
	if c.APIVersion == "" {
		c.APIVersion = GroupVersion
	}
	if c.Kind == "" {
		c.Kind = Kind
	}
	defaultInt(&c.PreStop.SleepSeconds, 5)
	defaultString(&c.PreStop.Action, PreStopAuto)
	if c.PreStop.SkipOwnerKinds == nil {
		c.PreStop.SkipOwnerKinds = []string{"Job", "CronJob"}
	}
	defaultInt(&c.ShutdownSeconds, 25)
	defaultInt(&c.SidecarShutdownSeconds, 5)
	defaultString(&c.RollingUpdate.Action, MutationPatch)
	if c.RollingUpdate.MaxSurge == nil {
		surge := intstr.FromString("25%")
		c.RollingUpdate.MaxSurge = &surge
	}
	defaultString(&c.Recreate, RecreateDeny)
	defaultInt(&c.RevisionHistory.Minimum, 3)
	defaultString(&c.RevisionHistory.Action, MutationPatch)
	defaultString(&c.WorkloadDelete, GuardDeny)
	defaultString(&c.PodDelete, GuardWarn)
	defaultString(&c.ScaleDown, GuardWarn)
	defaultString(&c.ChangeCause, ChangeCauseRecord)
	for _, sw := range c.switches() {
		defaultString(sw.value, SwitchOn)
	}
}

func defaultInt(field **int32, value int32) {
	if *field == nil {
		*field = &value
	}
}

func defaultString[T ~string](field *T, value T) {
	if *field == "" {
		*field = value
	}
}
