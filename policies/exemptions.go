package policies

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// RuleExemption reports problems with the exemption annotation itself. It is
// not a rule: it cannot be configured or exempted.
const RuleExemption RuleID = "exemption"

// objectExemptions reads the exemption annotation of the object under review
// into ev.objectExempt, and warns about an annotation without a reason or with an
// unknown rule id.
func (ev *evaluation) objectExemptions() []Finding {
	annotations := annotationsOf(ev.judged())
	ids, unknown, ok := parseExempt(annotations)
	if !ok {
		return nil
	}
	for _, id := range ids {
		ev.objectExempt[id] = true
	}
	ref := objectRef(ev.review.Kind, ev.name())
	exemptField := "/metadata/annotations/" + escapePointer(ExemptAnnotation)
	var findings []Finding
	if len(unknown) > 0 {
		findings = append(findings, Finding{Rule: RuleExemption, Action: ActionWarn, Object: ref, Field: exemptField,
			Message: fmt.Sprintf("%s names unknown rule %s; see the rule ids in the docs", ExemptAnnotation, strings.Join(unknown, ","))})
	}
	if strings.TrimSpace(annotations[ExemptReasonAnnotation]) == "" {
		findings = append(findings, Finding{Rule: RuleExemption, Action: ActionWarn, Object: ref, Field: exemptField,
			Message: fmt.Sprintf("%s=%s has no %s; add one to record why", ExemptAnnotation, annotations[ExemptAnnotation], ExemptReasonAnnotation)})
	}
	return findings
}

// parseExempt returns the rule ids an exemption annotation names, and the
// names it does not know. ok is false when there is no annotation.
func parseExempt(annotations map[string]string) (ids []RuleID, unknown []string, ok bool) {
	value, ok := annotations[ExemptAnnotation]
	if !ok {
		return nil, nil, false
	}
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case name == v1alpha1.AllRules:
			for _, id := range v1alpha1.RuleIDs {
				ids = append(ids, RuleID(id))
			}
		case slices.Contains(v1alpha1.RuleIDs, name):
			ids = append(ids, RuleID(name))
		default:
			unknown = append(unknown, fmt.Sprintf("%q", name))
		}
	}
	return ids, unknown, true
}

// judged is the object whose metadata decides exemptions: the new object, or
// on DELETE the stored one. A subresource request (a Scale, an Eviction)
// carries no annotations: its parent's, when read, decide.
func (ev *evaluation) judged() runtime.Object {
	if ev.review.SubResource != "" && ev.review.Parent != nil {
		return ev.review.Parent
	}
	if ev.review.Object != nil {
		return ev.review.Object
	}
	return ev.review.OldObject
}

// name is the object's name; a pod created from generateName has none yet.
func (ev *evaluation) name() string {
	if ev.review.Name != "" {
		return ev.review.Name
	}
	if obj, err := meta.Accessor(ev.judged()); err == nil && obj != nil {
		if obj.GetName() != "" {
			return obj.GetName()
		}
		if obj.GetGenerateName() != "" {
			return obj.GetGenerateName() + "*"
		}
	}
	return "(unnamed)"
}

// ref is the reviewed object as kubectl names it, e.g. deployment/nginx.
func (ev *evaluation) ref() string { return objectRef(ev.review.Kind, ev.name()) }

func annotationsOf(obj runtime.Object) map[string]string {
	if obj == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil || m == nil {
		return nil
	}
	return m.GetAnnotations()
}

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// exemptHint says how to do on purpose what a guard denies on the reviewed
// object: annotate it with the exemption, then write again. A Scale carries
// no annotations, so on /scale the workload's own (Review.Parent, read by the
// webhook) decide; when they could not be read, only a write to the object
// itself is sure to see the exemption, and the hint says so.
func exemptHint(ev *evaluation, id RuleID, purpose, write string) string {
	ref := ev.ref()
	switch {
	case ev.review.SubResource == "scale" && ev.review.Parent != nil:
		return annotateThen(ref, id, purpose, "scale again")
	case ev.review.SubResource == "scale":
		return fmt.Sprintf(`To %s, run %s unless %s has it, then "%s": a Scale carries no annotations and gracekeeper could not read %s's`,
			purpose, annotateCommand(ref, id), ref, write, ref)
	}
	return annotateThen(ref, id, purpose, `"`+write+`"`)
}

// manifestExemptHint says how to keep on purpose a setting a guard denies on
// a CREATE or UPDATE: the object's own exemption annotation, written in its
// manifest with the setting (there may be no object to annotate yet).
func manifestExemptHint(id RuleID, purpose string) string {
	return fmt.Sprintf(`To %s, add the annotations %s: %s and %s: "<why>" to its manifest`, purpose, ExemptAnnotation, id, ExemptReasonAnnotation)
}

// exemptionHelp is RuleExemption's help text (see RuleHelp).
const exemptionHelp = "The gracekeeper.io/exempt annotation must name known rule ids (or all) and come with a " +
	"gracekeeper.io/exempt-reason that records why."

// annotateThen is the two-step that does on purpose what a guard denies:
// annotate ref with the rule's exemption and a reason, then act. then is
// what follows "then": "delete it", or a quoted command.
func annotateThen(ref string, id RuleID, purpose, then string) string {
	return fmt.Sprintf("To %s, run %s, then %s", purpose, annotateCommand(ref, id), then)
}

// annotateCommand is the quoted kubectl command that exempts ref from rule id.
func annotateCommand(ref string, id RuleID) string {
	return fmt.Sprintf(`"kubectl annotate %s %s=%s %s=<why>"`, ref, ExemptAnnotation, id, ExemptReasonAnnotation)
}
