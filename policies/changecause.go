package policies

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// MaxChangeCause is the longest change-cause line change-cause writes, in
// characters. `kubectl rollout history` prints the annotation whole, after a
// REVISION column 10 characters wide (k8s.io/kubectl
// pkg/polymorphichelpers/history.go, tabbedString: a tabwriter with padding
// 2, no truncation), so a longer line wraps its row on a 132-column terminal.
const MaxChangeCause = 120

// maxActor bounds the "by <user> via <tool>" part of a line, so the change
// itself always keeps 30 characters: room for a service account's whole name
// (" by system:serviceaccount:argocd:argocd-application-controller via
// argocd-controller" is 85).
const maxActor = 90

// line is the change-cause for the request: what changed, and who changed it
// with what tool, within MaxChangeCause characters.
func (c *templateChange) line(r *Review, rollback *Revision) string {
	actor := " by " + r.User.Username
	if r.FieldManager != "" {
		actor += " via " + r.FieldManager
	}
	actor = clip(actor, maxActor)
	budget := MaxChangeCause - utf8.RuneCountInString(actor)
	parts := c.parts(rollback != nil, rollback == nil)
	if rollback == nil && utf8.RuneCountInString(join(parts)) > budget {
		// The previous images go first when the line is too long.
		parts = c.parts(false, false)
	}
	var what string
	switch {
	case rollback != nil:
		head := "rollback to revision " + strconv.FormatInt(rollback.Number, 10)
		if len(parts) == 0 {
			what = head
		} else {
			what = head + " (" + fit(parts, budget-utf8.RuneCountInString(head)-3) + ")"
		}
	case c.old == nil && len(parts) == 0:
		what = "created"
	case c.old == nil:
		what = "created with " + fit(parts, budget-len("created with "))
	case len(parts) == 0:
		// Only the restart annotation went: nothing the pods run changed.
		what = "pod annotation " + restartedAtAnnotation + " removed"
	default:
		what = fit(parts, budget)
	}
	return SingleLine(clip(what, budget) + actor)
}

// part is one kind of change: a label and the items it names.
type part struct {
	label string
	items []string
	// shown is how many items fit; the rest are counted ("2 more").
	shown int
}

func (p part) String() string {
	s := p.label
	if len(p.items) > 0 {
		s += " " + strings.Join(p.items[:p.shown], ", ")
		if n := len(p.items) - p.shown; n > 0 {
			if p.shown == 0 {
				s += strconv.Itoa(n)
			} else {
				s += ", " + strconv.Itoa(n)
			}
			s += " more"
		}
	}
	return s
}

// parts lists what changed from c.old to c.new (on CREATE: the images), most
// telling first: a restart, images, env, resources, probes, annotations,
// labels, containers added or removed, then any other field by name.
// was adds each image's previous value. A rollback's parts name no restart:
// the revision it restores says what the pods run.
func (c *templateChange) parts(rollback, was bool) []part {
	if c.old == nil {
		var images []string
		for _, ctr := range c.new.Spec.Containers {
			images = append(images, ctr.Name+"="+ctr.Image)
		}
		return nonEmpty(part{label: "image", items: images})
	}
	old, new := c.old, c.new
	restart := part{label: "rollout restart"}
	restarted := new.Annotations[restartedAtAnnotation] != "" && new.Annotations[restartedAtAnnotation] != old.Annotations[restartedAtAnnotation]
	images := part{label: "image"}
	env := part{label: "env"}
	resources := part{label: "resources"}
	probes := part{label: "probes"}
	added := part{label: "added container"}
	removed := part{label: "removed container"}
	other := part{label: "container"}
	oldContainers := containersByName(old.Spec)
	newContainers := containersByName(new.Spec)
	for _, name := range containerNames(new.Spec) {
		n := newContainers[name]
		o, ok := oldContainers[name]
		if !ok {
			added.items = append(added.items, name)
			continue
		}
		if o.Image != n.Image {
			item := name + "=" + n.Image
			if was {
				item += " (was " + o.Image + ")"
			}
			images.items = append(images.items, item)
		}
		env.items = appendNew(env.items, changedEnv(o.Env, n.Env)...)
		if !apiequality.Semantic.DeepEqual(o.EnvFrom, n.EnvFrom) {
			env.items = appendNew(env.items, "from "+name)
		}
		if keys := changedResources(o.Resources, n.Resources); len(keys) > 0 {
			resources.items = append(resources.items, name+" "+strings.Join(keys, " "))
		}
		var changed []string
		for _, p := range []struct {
			name     string
			old, new *corev1.Probe
		}{{"readiness", o.ReadinessProbe, n.ReadinessProbe}, {"liveness", o.LivenessProbe, n.LivenessProbe}, {"startup", o.StartupProbe, n.StartupProbe}} {
			if !apiequality.Semantic.DeepEqual(p.old, p.new) {
				changed = append(changed, p.name)
			}
		}
		if len(changed) > 0 {
			probes.items = append(probes.items, name+" "+strings.Join(changed, "/"))
		}
		if fields := otherFields(o, n, "name", "image", "env", "envFrom", "resources", "readinessProbe", "livenessProbe", "startupProbe"); len(fields) > 0 {
			other.items = append(other.items, name+" "+strings.Join(fields, "/"))
		}
	}
	for _, name := range containerNames(old.Spec) {
		if _, ok := newContainers[name]; !ok {
			removed.items = append(removed.items, name)
		}
	}
	oldAnnotations, newAnnotations := maps.Clone(old.Annotations), maps.Clone(new.Annotations)
	delete(oldAnnotations, restartedAtAnnotation)
	delete(newAnnotations, restartedAtAnnotation)
	annotations := part{label: "pod annotations", items: changedKeys(oldAnnotations, newAnnotations)}
	labels := part{label: "pod labels", items: changedKeys(old.Labels, new.Labels)}
	spec := part{label: "pod spec", items: otherFields(old.Spec, new.Spec, "containers", "initContainers")}
	parts := nonEmpty(images, env, resources, probes, annotations, labels, added, removed, other, spec)
	if restarted && !rollback {
		parts = append([]part{restart}, parts...)
	}
	return parts
}

func nonEmpty(parts ...part) []part {
	var kept []part
	for _, p := range parts {
		if len(p.items) > 0 {
			p.shown = len(p.items)
			kept = append(kept, p)
		}
	}
	return kept
}

// fit joins parts with "; " within budget characters: it first shows fewer
// items of the longest lists ("env A, 2 more"), then counts the parts that
// do not fit ("3 more changes"), then leaves them out ("; …").
func fit(parts []part, budget int) string {
	for utf8.RuneCountInString(join(parts)) > budget {
		widest := -1
		for i, p := range parts {
			if p.shown > 1 && (widest < 0 || p.shown > parts[widest].shown) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		parts[widest].shown--
	}
	if s := join(parts); utf8.RuneCountInString(s) <= budget {
		return s
	}
	for k := len(parts) - 1; k >= 1; k-- {
		if s := join(parts[:k]) + fmt.Sprintf("; %d more changes", len(parts)-k); utf8.RuneCountInString(s) <= budget {
			return s
		}
	}
	if len(parts) > 1 {
		if s := join(parts[:1]) + "; …"; utf8.RuneCountInString(s) <= budget {
			return s
		}
	}
	return clip(join(parts), budget)
}

func join(parts []part) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// clip cuts s to n characters, ending it with "…" when cut.
func clip(s string, n int) string {
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func containersByName(spec corev1.PodSpec) map[string]*corev1.Container {
	m := map[string]*corev1.Container{}
	for i := range spec.InitContainers {
		m[spec.InitContainers[i].Name] = &spec.InitContainers[i]
	}
	for i := range spec.Containers {
		m[spec.Containers[i].Name] = &spec.Containers[i]
	}
	return m
}

// containerNames lists the regular containers, then the init containers.
func containerNames(spec corev1.PodSpec) []string {
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range spec.InitContainers {
		names = append(names, c.Name)
	}
	return names
}

// changedEnv names the variables added, removed or changed, in the new order.
func changedEnv(old, new []corev1.EnvVar) []string {
	before := map[string]corev1.EnvVar{}
	for _, e := range old {
		before[e.Name] = e
	}
	var names []string
	after := map[string]bool{}
	for _, e := range new {
		after[e.Name] = true
		if o, ok := before[e.Name]; !ok || !apiequality.Semantic.DeepEqual(o, e) {
			names = appendNew(names, e.Name)
		}
	}
	for _, e := range old {
		if !after[e.Name] {
			names = appendNew(names, e.Name)
		}
	}
	return names
}

// changedResources says each request or limit changed: "requests.cpu=500m",
// "limits.memory=1Gi", "-limits.cpu" when removed.
func changedResources(old, new corev1.ResourceRequirements) []string {
	var out []string
	for _, l := range []struct {
		prefix   string
		old, new corev1.ResourceList
	}{{"requests.", old.Requests, new.Requests}, {"limits.", old.Limits, new.Limits}} {
		for _, name := range slices.Sorted(maps.Keys(mergedKeys(l.old, l.new))) {
			o, hadOld := l.old[corev1.ResourceName(name)]
			n, hasNew := l.new[corev1.ResourceName(name)]
			switch {
			case !hasNew:
				out = append(out, "-"+l.prefix+name)
			case !hadOld || o.Cmp(n) != 0:
				out = append(out, l.prefix+name+"="+n.String())
			}
		}
	}
	if len(out) == 0 && !apiequality.Semantic.DeepEqual(old, new) {
		out = append(out, "claims")
	}
	return out
}

func mergedKeys[V any](a, b map[corev1.ResourceName]V) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[string(k)] = true
	}
	for k := range b {
		keys[string(k)] = true
	}
	return keys
}

// changedKeys lists, sorted, the keys added, removed or changed.
func changedKeys(old, new map[string]string) []string {
	var keys []string
	for k, v := range new {
		if o, ok := old[k]; !ok || o != v {
			keys = append(keys, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// otherFields names, sorted, the JSON fields of two objects of one type that
// differ, leaving out the skipped ones.
func otherFields(old, new any, skip ...string) []string {
	a, b := jsonFields(old), jsonFields(new)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !slices.Contains(skip, k) && !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, k)
		}
	}
	return out
}

func jsonFields(v any) map[string]any {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// Annotations change-cause reads and writes.
const (
	// ChangeCauseAnnotation is the annotation `kubectl rollout history` prints
	// in its CHANGE-CAUSE column (k8s.io/kubectl pkg/polymorphichelpers/history.go).
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	// restartedAtAnnotation is what `kubectl rollout restart` sets on the pod template.
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// templateChange is the pod template a request writes and the one it replaces
// (nil on CREATE).
type templateChange struct {
	old, new *corev1.PodTemplateSpec
}

// templateChangeOf returns the request's template change, nil when the
// request does not change a template of a kind with a rollout history.
func templateChangeOf(r *Review) *templateChange {
	k := kindOf(r.Object)
	if k == nil || k.History == "" || k.template == nil {
		return nil
	}
	c := &templateChange{new: k.template(r.Object)}
	if r.Operation == Update {
		if kindOf(r.OldObject) != k {
			return nil
		}
		c.old = k.template(r.OldObject)
		if apiequality.Semantic.DeepEqual(c.old, c.new) {
			return nil
		}
	}
	return c
}

// rollbackIn returns the revision of h whose template the request restores, as
// the controllers compare them (the deployment controller ignores the
// pod-template-hash label it adds to its ReplicaSets), or nil: none, the
// newest (the request changes nothing the controller will roll), or h not read.
func (c *templateChange) rollbackIn(h *History) *Revision {
	if h == nil || c.old == nil {
		return nil
	}
	var match *Revision
	var newest int64
	for i := range h.Revisions {
		rev := &h.Revisions[i]
		newest = max(newest, rev.Number)
		if equalIgnoringHash(&rev.Template, c.new) && (match == nil || rev.Number > match.Number) {
			match = rev
		}
	}
	if match == nil || match.Number == newest {
		return nil
	}
	return match
}

func equalIgnoringHash(a, b *corev1.PodTemplateSpec) bool {
	if a.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" || b.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" {
		a, b = a.DeepCopy(), b.DeepCopy()
		delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// needsHistory: the answer to r depends on its workload's rollout history:
// change-cause recognises a rollback by finding the new pod template among
// the revisions, as the controllers do, and a change-cause `kubectl rollout
// undo` copied back from the old ReplicaSet by finding it on that revision.
func needsHistory(cfg *v1alpha1.Configuration, r *Review, findings []Finding) bool {
	if r.History != nil || r.Operation != Update || cfg.ChangeCause != v1alpha1.ChangeCauseRecord {
		return false
	}
	for _, f := range findings {
		if f.Rule == RuleChangeCause {
			return true
		}
	}
	// The request writes a change-cause of its own, unless it is the copy.
	current := annotationsOf(r.Object)[ChangeCauseAnnotation]
	return current != "" && current != annotationsOf(r.OldObject)[ChangeCauseAnnotation] &&
		!IsSystemActor(r.User) && r.User.Username != "" && templateChangeOf(r) != nil
}
