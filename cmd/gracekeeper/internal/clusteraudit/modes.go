package clusteraudit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// alwaysExcluded are never covered, whatever the install: every webhook
// entry's namespaceSelector leaves them out (the chart's _helpers.tpl).
var alwaysExcluded = []string{"kube-system", "kube-public", "kube-node-lease"}

// modeResolver decides each namespace's mode the way the API server will:
// from the namespaceSelectors of the installed webhook entries, or, without
// them, from the label semantics of --scope and --default-mode.
type modeResolver struct {
	// mutating and validating are the installed mode entries, nil when absent.
	mutating, validating *modeEntries
	scope                string
	defaultMode          policies.Mode
	// excluded are namespaces no entry can match.
	excluded map[string]bool
}

// modeEntries are the enforce.*.gracekeeper.io and audit.*.gracekeeper.io
// entries of one webhook configuration.
type modeEntries struct {
	// config is kind/name, e.g. mutatingwebhookconfiguration/gracekeeper.
	config         string
	enforce, audit labels.Selector
}

// webhookEntry is what mode resolution reads of a webhook, mutating or validating.
type webhookEntry struct {
	name     string
	selector *metav1.LabelSelector
}

// modeEntryMode returns the mode an entry name serves: enforce.mutate.gracekeeper.io is enforce.
func modeEntryMode(name string) (policies.Mode, bool) {
	mode, rest, ok := strings.Cut(name, ".")
	if !ok || !strings.HasSuffix(rest, ".gracekeeper.io") {
		return "", false
	}
	switch m := policies.Mode(mode); m {
	case policies.ModeEnforce, policies.ModeAudit:
		return m, true
	}
	return "", false
}

// readModes reads the installed webhook configurations. Failing to read them
// is no error: the flags then decide, and a note says why.
func readModes(ctx context.Context, client kubernetes.Interface, opts auditOptions) (*modeResolver, []string, error) {
	m := &modeResolver{scope: opts.scope, defaultMode: opts.defaultMode, excluded: map[string]bool{}}
	for _, ns := range alwaysExcluded {
		m.excluded[ns] = true
	}
	var notes []string
	admission := client.AdmissionregistrationV1()

	mutating := map[string][]webhookEntry{}
	err := eachPage(ctx, metav1.ListOptions{}, paged(admission.MutatingWebhookConfigurations().List,
		func(l *admissionregistrationv1.MutatingWebhookConfigurationList) []admissionregistrationv1.MutatingWebhookConfiguration {
			return l.Items
		}), func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
		for _, w := range c.Webhooks {
			mutating[c.Name] = append(mutating[c.Name], webhookEntry{w.Name, w.NamespaceSelector})
		}
	})
	if err != nil {
		notes = append(notes, apiProblem("list", mutatingConfigs, "", err).Message)
	}
	validating := map[string][]webhookEntry{}
	err = eachPage(ctx, metav1.ListOptions{}, paged(admission.ValidatingWebhookConfigurations().List,
		func(l *admissionregistrationv1.ValidatingWebhookConfigurationList) []admissionregistrationv1.ValidatingWebhookConfiguration {
			return l.Items
		}), func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
		for _, w := range c.Webhooks {
			validating[c.Name] = append(validating[c.Name], webhookEntry{w.Name, w.NamespaceSelector})
		}
	})
	if err != nil {
		notes = append(notes, apiProblem("list", validatingConfigs, "", err).Message)
	}

	if m.mutating, err = m.entries("mutatingwebhookconfiguration", mutating, opts.webhookName); err != nil {
		return nil, nil, err
	}
	if m.validating, err = m.entries("validatingwebhookconfiguration", validating, opts.webhookName); err != nil {
		return nil, nil, err
	}
	if m.mutating == nil && m.validating == nil {
		how := "only namespaces labelled " + policies.ModeLabel + "=enforce or =audit are covered"
		if m.scope == "cluster" {
			how = fmt.Sprintf("unlabelled namespaces are in %s mode", m.defaultMode)
		}
		notes = append(notes, fmt.Sprintf("no gracekeeper webhook configuration was found, so modes follow --scope=%s: %s", m.scope, how))
	}
	return m, notes, nil
}

var (
	mutatingConfigs   = schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}
	validatingConfigs = schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}
)

// entries picks the configuration holding gracekeeper's mode entries: the one
// named name, or else the only one there is. It also learns the namespaces
// the entries exclude by name.
func (m *modeResolver) entries(kind string, configs map[string][]webhookEntry, name string) (*modeEntries, error) {
	var candidates []string
	for config, entries := range configs {
		if slices.ContainsFunc(entries, func(e webhookEntry) bool { _, ok := modeEntryMode(e.name); return ok }) {
			candidates = append(candidates, config)
		}
	}
	slices.Sort(candidates)
	switch {
	case len(candidates) == 0:
		return nil, nil
	case slices.Contains(candidates, name):
	case len(candidates) == 1:
		name = candidates[0]
	default:
		return nil, fmt.Errorf("%w: several %ss hold gracekeeper entries (%s): choose one with --webhook-name",
			cli.ErrUsage, kind, strings.Join(candidates, ", "))
	}
	found := &modeEntries{config: kind + "/" + name}
	for _, e := range configs[name] {
		mode, ok := modeEntryMode(e.name)
		if !ok {
			continue
		}
		// The API server matches every namespace when the selector is absent.
		selector := labels.Everything()
		if e.selector != nil {
			var err error
			if selector, err = metav1.LabelSelectorAsSelector(e.selector); err != nil {
				return nil, fmt.Errorf("%s entry %s: namespaceSelector: %w", found.config, e.name, err)
			}
			for _, expr := range e.selector.MatchExpressions {
				if expr.Key == corev1.LabelMetadataName && expr.Operator == metav1.LabelSelectorOpNotIn {
					for _, ns := range expr.Values {
						m.excluded[ns] = true
					}
				}
			}
		}
		if mode == policies.ModeEnforce {
			found.enforce = selector
		} else {
			found.audit = selector
		}
	}
	return found, nil
}

// from says where modes come from, and the configurations read.
func (m *modeResolver) from() (string, []string) {
	configs := []string{}
	for _, e := range []*modeEntries{m.mutating, m.validating} {
		if e != nil {
			configs = append(configs, e.config)
		}
	}
	if len(configs) == 0 {
		return "flags", configs
	}
	return "webhook", configs
}

// resolve returns a namespace's mode, and a note when the mutating and the
// validating configuration disagree (the report then follows the mutating one).
func (m *modeResolver) resolve(name string, nsLabels map[string]string) (policies.Mode, string) {
	if m.excluded[name] {
		return policies.ModeOff, ""
	}
	// The API server sets this label on every namespace; selectors rely on it.
	set := labels.Set{corev1.LabelMetadataName: name}
	for k, v := range nsLabels {
		set[k] = v
	}
	switch {
	case m.mutating != nil && m.validating != nil:
		mutating, validating := m.mutating.mode(set), m.validating.mode(set)
		if mutating != validating {
			return mutating, fmt.Sprintf("namespace %s: %s puts it in %s mode, %s in %s mode; the report shows the first",
				name, m.mutating.config, mutating, m.validating.config, validating)
		}
		return mutating, ""
	case m.mutating != nil:
		return m.mutating.mode(set), ""
	case m.validating != nil:
		return m.validating.mode(set), ""
	}
	return m.fromFlags(nsLabels), ""
}

// mode is enforce when the enforce entry matches (its guards deny even if the
// audit entry matches too), else audit, else off.
func (e *modeEntries) mode(set labels.Set) policies.Mode {
	switch {
	case e.enforce != nil && e.enforce.Matches(set):
		return policies.ModeEnforce
	case e.audit != nil && e.audit.Matches(set):
		return policies.ModeAudit
	}
	return policies.ModeOff
}

// fromFlags applies the chart's selectors for --scope and --default-mode: an
// opt-in install covers only labelled namespaces; a cluster-wide one gives
// every other namespace the default mode, and an invalid label too, as its
// "NotIn (other mode, off)" selector does.
func (m *modeResolver) fromFlags(nsLabels map[string]string) policies.Mode {
	if v := nsLabels[policies.ModeLabel]; policies.ValidMode(v) {
		return policies.Mode(v)
	}
	if m.scope == "cluster" {
		return m.defaultMode
	}
	return policies.ModeOff
}

// modeLabel returns a namespace's gracekeeper.io/mode label and its state.
func modeLabel(nsLabels map[string]string) (string, string) {
	v, ok := nsLabels[policies.ModeLabel]
	if policies.ValidMode(v) {
		return v, labelSet
	}
	if !ok {
		return "", labelMissing
	}
	return v, labelInvalid
}
