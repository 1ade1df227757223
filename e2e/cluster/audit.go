package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// The API server writes an audit log, so that tests (and make up's users)
// can read what each webhook recorded in it: the auditAnnotations of
// gracekeeper's answers, under "<webhook name>/<key>", and the API server's
// own "mutation.webhook.admission.k8s.io/round_N_index_M".

// AuditLog is the API server's audit log, one JSON auditv1.Event a line:
// the writes gracekeeper's webhook entries receive, at Metadata level.
func (c *Cluster) AuditLog() string { return filepath.Join(c.Dir, "logs", "kube-apiserver-audit.log") }

// auditArgs writes the audit policy to Dir and returns the API server's
// audit flags.
// The log is rotated at 100 MB with one backup, which bounds what a make up
// left running for days keeps.
func (c *Cluster) auditArgs() ([]string, error) {
	policy, err := yaml.Marshal(auditPolicy())
	if err != nil {
		return nil, fmt.Errorf("encode audit policy: %w", err)
	}
	path := filepath.Join(c.Dir, "audit-policy.yaml")
	if err := os.WriteFile(path, policy, 0o644); err != nil {
		return nil, fmt.Errorf("write audit policy: %w", err)
	}
	return []string{
		"--audit-policy-file=" + path, "--audit-log-path=" + c.AuditLog(), "--audit-log-format=json",
		"--audit-log-maxsize=100", "--audit-log-maxbackup=1",
	}, nil
}

// auditPolicy logs, at Metadata level and once a request is answered, the
// requests gracekeeper's webhook entries receive (admission.Entries): their
// resources and subresources, with the verbs of the entries' operations.
// Everything else (the controllers' reads and status updates, most of the
// traffic) is not logged, which keeps the log small and the API server fast.
func auditPolicy() *auditv1.Policy {
	verbsOf := map[admissionregistrationv1.OperationType][]string{
		admissionregistrationv1.Create: {"create"},
		admissionregistrationv1.Update: {"update", "patch"},
		admissionregistrationv1.Delete: {"delete", "deletecollection"},
	}
	var rules []auditv1.PolicyRule
	for _, e := range admission.Entries() {
		for _, r := range e.Rules() {
			var verbs []string
			for _, op := range r.Operations {
				verbs = append(verbs, verbsOf[op]...)
			}
			groups := make([]auditv1.GroupResources, len(r.APIGroups))
			for i, g := range r.APIGroups {
				groups[i] = auditv1.GroupResources{Group: g, Resources: slices.Clone(r.Resources)}
			}
			rules = append(rules, auditv1.PolicyRule{Level: auditv1.LevelMetadata, Verbs: verbs, Resources: groups})
		}
	}
	rules = append(rules, auditv1.PolicyRule{Level: auditv1.LevelNone})
	return &auditv1.Policy{
		TypeMeta:   metav1.TypeMeta{APIVersion: auditv1.SchemeGroupVersion.String(), Kind: "Policy"},
		OmitStages: []auditv1.Stage{auditv1.StageRequestReceived},
		Rules:      rules,
	}
}

// AuditEvents reads the audit log: every event written so far, in order.
// The API server writes an event once it has answered, so a test polls for
// the event of a request it just made. A last line the API server is still
// writing is left out; any other line that is not an event is an error.
func (c *Cluster) AuditEvents() ([]auditv1.Event, error) {
	data, err := os.ReadFile(c.AuditLog())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // nothing audited yet
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	var events []auditv1.Event
	lines := bufio.NewScanner(bytes.NewReader(data))
	lines.Buffer(nil, len(data)+1)
	for n := 1; lines.Scan(); n++ {
		var e auditv1.Event
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("audit log %s line %d: %w", c.AuditLog(), n, err)
		}
		events = append(events, e)
	}
	return events, lines.Err()
}
