package clusteraudit

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// auditReport is the stable JSON schema of "audit -o json" (docs/audit.md):
// fields may be added, never renamed or removed.
type auditReport struct {
	// ServerVersion is the API server's version, "" when discovery failed.
	ServerVersion string `json:"serverVersion"`
	// PreStopAction is the hook the prestop-hook patches add: sleep or exec.
	PreStopAction string `json:"preStopAction"`
	// ModesFrom says how namespace modes were resolved: webhook or flags.
	ModesFrom string `json:"modesFrom"`
	// Webhooks are the configurations the modes come from, as kind/name.
	Webhooks   []string         `json:"webhooks"`
	Namespaces []auditNamespace `json:"namespaces"`
	// Problems are the requests that failed; the report lacks what they would have read.
	Problems []auditProblem `json:"problems"`
	Notes    []string       `json:"notes"`
	// PolicyReports is set with --write-reports.
	PolicyReports *policyReportsResult `json:"policyReports,omitempty"`
	Summary       auditSummary         `json:"summary"`
}

// Namespace modes beyond policies.Mode: a namespace whose labels could not
// be read has an unknown mode.
const modeUnknown policies.Mode = "unknown"

// Label states of a namespace's gracekeeper.io/mode label.
const (
	labelSet     = "set"
	labelMissing = "missing"
	labelInvalid = "invalid"
	labelUnknown = "unknown"
)

type auditNamespace struct {
	Name string `json:"name"`
	// Mode is enforce, audit, off (gracekeeper does not cover it) or unknown.
	Mode policies.Mode `json:"mode"`
	// Label is the gracekeeper.io/mode label's value, "" when absent.
	Label string `json:"label,omitempty"`
	// LabelStatus is set, missing, invalid or unknown.
	LabelStatus string `json:"labelStatus"`
	// Excluded namespaces are never covered by gracekeeper and are not scanned.
	Excluded bool `json:"excluded"`
	// Complete is false when a list in this namespace failed (see problems).
	Complete bool `json:"complete"`
	// Workloads are every workload scanned, with findings [] when compliant.
	Workloads []auditWorkload `json:"workloads"`
	// Pods are the running pods without a preStop hook.
	Pods    []auditPod `json:"pods"`
	Summary auditTally `json:"summary"`
	// updateStrategies are the StatefulSets and DaemonSets scanned
	// ("statefulset/db" -> updateStrategy OnDelete), for their pods' restart.
	updateStrategies map[string]bool
}

type auditWorkload struct {
	Kind     string             `json:"kind"`
	Name     string             `json:"name"`
	Findings []policies.Finding `json:"findings"`
	// Exempted are the findings its gracekeeper.io/exempt annotations take
	// away; policy reports list them as skip.
	Exempted []policies.Finding `json:"exempted,omitempty"`
	// reason is its gracekeeper.io/exempt-reason.
	reason string
	uid    types.UID
}

type auditPod struct {
	Name string `json:"name"`
	// Owner is the workload that restarts the pod, e.g. deployment/web; "" for a bare pod.
	Owner    string             `json:"owner,omitempty"`
	Findings []policies.Finding `json:"findings"`
	uid      types.UID
	// restart is the command that restarts the owner gracefully, "" for none.
	restart string
}

// auditProblem is one request that failed.
type auditProblem struct {
	Verb string `json:"verb"`
	// Resource is resource.group, e.g. statefulsets.apps.
	Resource string `json:"resource"`
	// Namespace is "" for a cluster-wide request.
	Namespace string `json:"namespace,omitempty"`
	// Reason is forbidden, unauthorized, not-found, unreachable or error.
	Reason string `json:"reason"`
	// Message is the sentence the text report prints.
	Message string `json:"message"`
}

// auditTally counts what a namespace, or the whole scan, holds.
type auditTally struct {
	Workloads int `json:"workloads"`
	// Compliant workloads have no finding at all.
	Compliant int `json:"compliant"`
	// Denied workloads have at least one deny finding.
	Denied int `json:"denied"`
	cli.Tally
	// Pods counts the running pods scanned.
	Pods               int `json:"pods"`
	PodsWithoutPreStop int `json:"podsWithoutPreStop"`
}

func (t *auditTally) add(o auditTally) {
	t.Workloads += o.Workloads
	t.Compliant += o.Compliant
	t.Denied += o.Denied
	t.Tally.Add(o.Tally)
	t.Pods += o.Pods
	t.PodsWithoutPreStop += o.PodsWithoutPreStop
}

type auditSummary struct {
	// Namespaces counts the namespaces scanned, excluded ones not included.
	Namespaces int `json:"namespaces"`
	// Modes counts the scanned namespaces by mode.
	Modes map[policies.Mode]int `json:"modes"`
	auditTally
	// Complete is false when any request failed.
	Complete bool `json:"complete"`
}

type policyReportsResult struct {
	// APIVersion is the report API written: openreports.io/v1alpha1 where it
	// is served, else wgpolicyk8s.io/v1alpha2.
	APIVersion string `json:"apiVersion,omitempty"`
	// Written are the namespaces whose PolicyReport was created or updated.
	Written []string `json:"written"`
	// Skipped says why no report was written at all, e.g. the CRD is missing.
	Skipped string `json:"skipped,omitempty"`
}

func printAudit(w io.Writer, r *auditReport) {
	version := r.ServerVersion
	if version == "" {
		version = "of unknown version"
	}
	fmt.Fprintf(w, "API server %s; injected preStop hooks use the %s action.\n", version, r.PreStopAction)
	if r.ModesFrom == "webhook" {
		fmt.Fprintf(w, "Namespace modes come from %s.\n", strings.Join(r.Webhooks, " and "))
	} else {
		fmt.Fprintln(w, "Namespace modes come from --scope and --default-mode: no gracekeeper webhook configuration was read.")
	}
	fmt.Fprintln(w, "Each workload is judged as if it were created now, in enforce mode.")

	var excluded []string
	for i := range r.Namespaces {
		ns := &r.Namespaces[i]
		if ns.Excluded {
			excluded = append(excluded, ns.Name)
			continue
		}
		printNamespace(w, ns)
	}
	if len(excluded) > 0 {
		fmt.Fprintf(w, "\nNot scanned, never covered by gracekeeper: %s.\n", strings.Join(excluded, ", "))
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "\nCould not read:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s\n", p.Message)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if pr := r.PolicyReports; pr != nil {
		switch {
		case pr.Skipped != "":
			fmt.Fprintf(w, "\nPolicyReports not written: %s.\n", pr.Skipped)
		case len(pr.Written) > 0 && pr.APIVersion == openReportsResource.GroupVersion().String():
			fmt.Fprintf(w, "\nReport gracekeeper (%s) written in %s.\n", pr.APIVersion, strings.Join(pr.Written, ", "))
		case len(pr.Written) > 0:
			fmt.Fprintf(w, "\nPolicyReport gracekeeper written in %s.\n", strings.Join(pr.Written, ", "))
		default:
			fmt.Fprintln(w, "\nNo PolicyReport written.")
		}
	}

	s := r.Summary
	fmt.Fprintf(w, "\nTotal: %s (%s), %s.\n", cli.Plural(s.Namespaces, "namespace"), modeCounts(s.Modes), s.auditTally)
	switch {
	case !s.Complete:
		fmt.Fprintln(w, "The report is incomplete: see what could not be read above.")
	case s.Denied > 0:
		fmt.Fprintf(w, "Enforce mode would deny %s if created now.\n", cli.Plural(s.Denied, "workload"))
	default:
		fmt.Fprintln(w, "Enforce mode would deny nothing.")
	}
}

func printNamespace(w io.Writer, ns *auditNamespace) {
	fmt.Fprintf(w, "\nnamespace %s: %s\n", ns.Name, describeMode(ns))
	for _, wl := range ns.Workloads {
		if len(wl.Findings) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s/%s\n", strings.ToLower(wl.Kind), wl.Name)
		for _, f := range wl.Findings {
			fmt.Fprintf(w, "    %s\n", cli.FindingLine(f))
			for _, op := range f.Patch {
				value, _ := json.Marshal(op.Value)
				fmt.Fprintf(w, "    %-33s  patch: %s %s %s\n", "", op.Op, op.Path, value)
			}
		}
	}
	if len(ns.Pods) > 0 {
		fmt.Fprintln(w, "  running pods without a preStop hook, which enforce mode adds when they restart:")
		for _, g := range groupPods(ns.Pods) {
			if g.owner == "" {
				fmt.Fprintf(w, "    pod/%s: no controller restarts it\n", g.names[0])
				continue
			}
			fmt.Fprintf(w, "    %s: %s", g.owner, cli.Plural(len(g.names), "pod"))
			if tool, args, ok := strings.Cut(g.restart, " "); ok {
				fmt.Fprintf(w, " (%s -n %s %s)", tool, ns.Name, args)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "  %s\n", ns.Summary)
	if !ns.Complete {
		fmt.Fprintln(w, "  incomplete: see what could not be read below")
	}
}

func (t auditTally) String() string {
	s := fmt.Sprintf("%s (%d ok, %d denied): %s; ", cli.Plural(t.Workloads, "workload"), t.Compliant, t.Denied, t.Tally)
	if t.Pods == 0 {
		return s + "no running pods"
	}
	return s + fmt.Sprintf("%d of %s without a preStop hook", t.PodsWithoutPreStop, cli.Plural(t.Pods, "running pod"))
}

// describeMode says what the mode means and why, for the text report.
func describeMode(ns *auditNamespace) string {
	var s string
	switch ns.Mode {
	case policies.ModeOff:
		s = "off, not covered by gracekeeper"
	case modeUnknown:
		s = "mode unknown, the namespace could not be read"
	default:
		s = string(ns.Mode)
	}
	switch ns.LabelStatus {
	case labelMissing:
		s += fmt.Sprintf(" (no %s label)", policies.ModeLabel)
	case labelInvalid:
		s += fmt.Sprintf(" (invalid %s=%q: use enforce, audit or off)", policies.ModeLabel, ns.Label)
	}
	return s
}

func modeCounts(modes map[policies.Mode]int) string {
	var parts []string
	for _, m := range append(policies.Modes(), modeUnknown) {
		if n := modes[m]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, m))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

type podGroup struct {
	owner, restart string
	names          []string
}

// groupPods groups pods by the workload that restarts them, in order of
// first appearance; each bare pod is a group of its own.
func groupPods(pods []auditPod) []podGroup {
	var groups []podGroup
	for _, p := range pods {
		i := slices.IndexFunc(groups, func(g podGroup) bool { return p.Owner != "" && g.owner == p.Owner })
		if i < 0 {
			groups = append(groups, podGroup{owner: p.Owner, restart: p.restart})
			i = len(groups) - 1
		}
		groups[i].names = append(groups[i].names, p.Name)
	}
	return groups
}
