package clusteraudit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// pageSize bounds each list request, so memory stays flat on large clusters.
const pageSize = 500

// pageFunc lists one page.
type pageFunc[T any] func(ctx context.Context, opts metav1.ListOptions) (items []T, next string, err error)

// paged adapts a typed client's List to a pageFunc.
func paged[L interface{ GetContinue() string }, T any](list func(context.Context, metav1.ListOptions) (L, error), items func(L) []T) pageFunc[T] {
	return func(ctx context.Context, opts metav1.ListOptions) ([]T, string, error) {
		l, err := list(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		return items(l), l.GetContinue(), nil
	}
}

// eachPage calls each for every item, one page of pageSize at a time.
func eachPage[T any](ctx context.Context, opts metav1.ListOptions, list pageFunc[T], each func(*T)) error {
	opts.Limit = pageSize
	for {
		items, next, err := list(ctx, opts)
		if err != nil {
			return err
		}
		for i := range items {
			each(&items[i])
		}
		if next == "" {
			return nil
		}
		opts.Continue = next
	}
}

var (
	namespacesResource   = schema.GroupResource{Resource: "namespaces"}
	deploymentsResource  = schema.GroupResource{Group: "apps", Resource: "deployments"}
	statefulSetsResource = schema.GroupResource{Group: "apps", Resource: "statefulsets"}
	daemonSetsResource   = schema.GroupResource{Group: "apps", Resource: "daemonsets"}
	podsResource         = schema.GroupResource{Resource: "pods"}
	// rolloutsResource is Argo Rollouts' CRD, listed with the dynamic client.
	rolloutsResource = schema.GroupVersionResource{Group: policies.RolloutGVK.Group, Version: policies.RolloutGVK.Version, Resource: "rollouts"}
)

// auditor is the state of one scan.
type auditor struct {
	client   kubernetes.Interface
	dynamic  dynamic.Interface
	rollouts *bool // whether the cluster serves Argo Rollouts; nil until asked
	engine   *policies.Engine
	modes    *modeResolver
	progress *progressLine
	report   *auditReport
	byName   map[string]*auditNamespace
	scanned  map[string]int
}

// scanCluster reads the cluster and evaluates every workload and running pod
// as a CREATE in enforce mode. Failed requests become problems in the report;
// only a server that cannot be reached or rejects the credentials at the
// start, or unusable flags, are errors.
func scanCluster(ctx context.Context, clients *clusterClients, cfg *v1alpha1.Configuration, opts auditOptions, progress *progressLine) (*auditReport, error) {
	report := &auditReport{Webhooks: []string{}, Namespaces: []auditNamespace{}, Problems: []auditProblem{}, Notes: []string{}}
	serverVersion, err := clients.kube.Discovery().ServerVersion()
	switch {
	case err == nil:
		report.ServerVersion = serverVersion.GitVersion
	case !isAPIStatus(err):
		return nil, fmt.Errorf("cannot reach the API server at %s: %w", clients.server, err)
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("the API server at %s rejected the credentials: %w", clients.server, err)
	default:
		report.Notes = append(report.Notes, fmt.Sprintf("cannot read the server version (%v), so preStop hooks are reported as exec \"sleep N\"; set serverVersion in --config to choose", err))
	}
	engine, err := policies.New(cfg, report.ServerVersion)
	if err != nil {
		return nil, err
	}
	report.PreStopAction = "exec"
	if engine.NativeSleep() {
		report.PreStopAction = "sleep"
	}
	modes, notes, err := readModes(ctx, clients.kube, opts)
	if err != nil {
		return nil, err
	}
	report.Notes = append(report.Notes, notes...)
	report.ModesFrom, report.Webhooks = modes.from()

	a := &auditor{client: clients.kube, dynamic: clients.dynamic, engine: engine, modes: modes, progress: progress, report: report,
		byName: map[string]*auditNamespace{}, scanned: map[string]int{}}
	targets, err := a.selectNamespaces(ctx, opts)
	if err != nil {
		return nil, err
	}
	for _, ns := range targets {
		a.scan(ctx, ns)
	}
	progress.done()
	a.finish()
	return report, nil
}

// selectNamespaces records the namespaces in scope with their modes and
// returns where to list: their names, or "" for one cluster-wide list.
func (a *auditor) selectNamespaces(ctx context.Context, opts auditOptions) ([]string, error) {
	if !opts.allNamespaces {
		ns, err := a.client.CoreV1().Namespaces().Get(ctx, opts.namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("namespace %q not found", opts.namespace)
		case err != nil:
			a.problem(apiProblem("get", namespacesResource, opts.namespace, err), "")
			a.namespace(opts.namespace)
		default:
			a.addNamespace(ns)
		}
		if a.modes.excluded[opts.namespace] {
			return nil, nil
		}
		return []string{opts.namespace}, nil
	}

	err := eachPage(ctx, metav1.ListOptions{LabelSelector: opts.selector}, paged(a.client.CoreV1().Namespaces().List,
		func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items }), a.addNamespace)
	if err != nil {
		if opts.selector != "" {
			return nil, fmt.Errorf("%s; --selector needs it", apiProblem("list", namespacesResource, "", err).Message)
		}
		// Workloads can still be listed cluster-wide; their namespaces' modes stay unknown.
		a.problem(apiProblem("list", namespacesResource, "", err), "")
		return []string{metav1.NamespaceAll}, nil
	}
	if opts.selector == "" {
		return []string{metav1.NamespaceAll}, nil
	}
	var targets []string
	for name, ns := range a.byName {
		if !ns.Excluded {
			targets = append(targets, name)
		}
	}
	slices.Sort(targets)
	return targets, nil
}

func (a *auditor) addNamespace(ns *corev1.Namespace) {
	entry := a.namespace(ns.Name)
	entry.Label, entry.LabelStatus = modeLabel(ns.Labels)
	var note string
	entry.Mode, note = a.modes.resolve(ns.Name, ns.Labels)
	if note != "" {
		a.report.Notes = append(a.report.Notes, note)
	}
}

// namespace returns the report's entry for a namespace, adding it with an
// unknown mode if the namespace itself was not read.
func (a *auditor) namespace(name string) *auditNamespace {
	ns, ok := a.byName[name]
	if !ok {
		ns = &auditNamespace{Name: name, Mode: modeUnknown, LabelStatus: labelUnknown, Excluded: a.modes.excluded[name],
			Complete: true, Workloads: []auditWorkload{}, Pods: []auditPod{}}
		a.byName[name] = ns
	}
	return ns
}

// scan lists every kind in one namespace, or in all of them for "".
func (a *auditor) scan(ctx context.Context, ns string) {
	apps, core := a.client.AppsV1(), a.client.CoreV1()
	lists := []struct {
		resource schema.GroupResource
		list     func() error
	}{
		{deploymentsResource, func() error {
			return eachPage(ctx, metav1.ListOptions{}, paged(apps.Deployments(ns).List,
				func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }),
				func(d *appsv1.Deployment) { a.workload("Deployment", d) })
		}},
		{statefulSetsResource, func() error {
			return eachPage(ctx, metav1.ListOptions{}, paged(apps.StatefulSets(ns).List,
				func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items }),
				func(s *appsv1.StatefulSet) { a.workload("StatefulSet", s) })
		}},
		{daemonSetsResource, func() error {
			return eachPage(ctx, metav1.ListOptions{}, paged(apps.DaemonSets(ns).List,
				func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items }),
				func(d *appsv1.DaemonSet) { a.workload("DaemonSet", d) })
		}},
		{rolloutsResource.GroupResource(), func() error {
			if a.dynamic == nil || !a.servesRollouts() {
				return nil // Argo Rollouts is not installed
			}
			return eachPage(ctx, metav1.ListOptions{}, paged(a.dynamic.Resource(rolloutsResource).Namespace(ns).List,
				func(l *unstructured.UnstructuredList) []unstructured.Unstructured { return l.Items }), a.rollout)
		}},
		{podsResource, func() error {
			return eachPage(ctx, metav1.ListOptions{}, paged(core.Pods(ns).List,
				func(l *corev1.PodList) []corev1.Pod { return l.Items }), a.pod)
		}},
	}
	for _, l := range lists {
		if err := l.list(); err != nil {
			a.problem(apiProblem("list", l.resource, ns, err), ns)
		}
	}
}

// workloadObject is a typed workload: metadata and a runtime.Object.
type workloadObject interface {
	metav1.Object
	runtime.Object
}

func (a *auditor) workload(kind string, obj workloadObject) {
	ns := a.namespace(obj.GetNamespace())
	if ns.Excluded {
		return
	}
	a.tick(kind)
	if onDelete, ok := policies.IsOnDelete(obj); ok {
		// Listed before the pods: their restart command depends on it.
		if ns.updateStrategies == nil {
			ns.updateStrategies = map[string]bool{}
		}
		ns.updateStrategies[strings.ToLower(kind)+"/"+obj.GetName()] = onDelete
	}
	findings := a.engine.Evaluate(&policies.Review{Operation: policies.Create, Kind: kind,
		Namespace: obj.GetNamespace(), Name: obj.GetName(), Object: obj})
	if findings == nil {
		findings = []policies.Finding{}
	}
	exempted, reason := a.exempted(kind, obj, findings)
	ns.Workloads = append(ns.Workloads, auditWorkload{Kind: kind, Name: obj.GetName(), Findings: findings,
		Exempted: exempted, reason: reason, uid: obj.GetUID()})
}

// exempted lists the findings the workload's exemption annotations take
// away (gracekeeper.io/exempt on it and on its pod template): it is judged
// again without them, and what only that judgement finds was exempted. The
// reason is the annotations' gracekeeper.io/exempt-reason.
func (a *auditor) exempted(kind string, obj workloadObject, findings []policies.Finding) ([]policies.Finding, string) {
	bare, ok := obj.DeepCopyObject().(workloadObject)
	if !ok {
		return nil, ""
	}
	annotated, reason := stripExempt(bare.GetAnnotations())
	var template *corev1.PodTemplateSpec
	switch w := bare.(type) {
	case *appsv1.Deployment:
		template = &w.Spec.Template
	case *appsv1.StatefulSet:
		template = &w.Spec.Template
	case *appsv1.DaemonSet:
		template = &w.Spec.Template
	}
	if template != nil {
		if ok, why := stripExempt(template.Annotations); ok {
			annotated = true
			reason = cmp.Or(reason, why)
		}
	}
	if !annotated {
		return nil, ""
	}
	var exempted []policies.Finding
	for _, f := range a.engine.Evaluate(&policies.Review{Operation: policies.Create, Kind: kind,
		Namespace: bare.GetNamespace(), Name: bare.GetName(), Object: bare}) {
		if !slices.ContainsFunc(findings, func(g policies.Finding) bool { return g.Rule == f.Rule }) {
			exempted = append(exempted, f)
		}
	}
	return exempted, reason
}

// stripExempt removes the exemption annotations, saying whether there was
// one and its reason.
func stripExempt(annotations map[string]string) (bool, string) {
	_, ok := annotations[policies.ExemptAnnotation]
	reason := annotations[policies.ExemptReasonAnnotation]
	delete(annotations, policies.ExemptAnnotation)
	delete(annotations, policies.ExemptReasonAnnotation)
	return ok, reason
}

// servesRollouts asks discovery, which every authenticated user may read,
// whether the cluster serves Argo Rollouts: listing them where it does not
// would be forbidden to most users (authorization comes first) and report a
// problem about a kind the cluster does not have. Asked once per scan.
func (a *auditor) servesRollouts() bool {
	if a.rollouts == nil {
		served := false
		if list, err := a.client.Discovery().ServerResourcesForGroupVersion(rolloutsResource.GroupVersion().String()); err == nil {
			served = slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == rolloutsResource.Resource })
		}
		a.rollouts = &served
	}
	return *a.rollouts
}

// rollout judges an Argo Rollout, decoded from the listed JSON as the
// webhook decodes it; one that does not decode is a problem of the scan.
func (a *auditor) rollout(u *unstructured.Unstructured) {
	data, err := u.MarshalJSON()
	var obj runtime.Object
	if err == nil {
		obj, err = policies.Decode(policies.RolloutGVK, data)
	}
	if err != nil {
		a.problem(auditProblem{Verb: "decode", Resource: rolloutsResource.GroupResource().String(), Namespace: u.GetNamespace(), Reason: "error",
			Message: fmt.Sprintf("cannot read rollout %s/%s: %v", u.GetNamespace(), u.GetName(), err)}, u.GetNamespace())
		return
	}
	a.workload(policies.RolloutGVK.Kind, obj.(*policies.Rollout))
}

// pod reports a running pod created without a preStop hook: enforce mode
// adds one only when the pod is recreated. Only pods whose shutdown the rules
// protect count (policies' Engine.ProtectsShutdown: scheduled, serving, with a
// container running), the pods force-delete and pod-delete judge.
func (a *auditor) pod(p *corev1.Pod) {
	ns := a.namespace(p.Namespace)
	if ns.Excluded || !a.engine.ProtectsShutdown(p) {
		return
	}
	a.tick("Pod")
	ns.Summary.Pods++
	var missing []policies.Finding
	for _, f := range a.engine.Evaluate(&policies.Review{Operation: policies.Create, Kind: "Pod",
		Namespace: p.Namespace, Name: p.Name, Object: p}) {
		if f.Rule == policies.RulePreStopHook {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		owner, restart := policies.RestartOf(p, ns.updateStrategies)
		ns.Pods = append(ns.Pods, auditPod{Name: p.Name, Owner: owner, Findings: missing, uid: p.UID, restart: restart})
	}
}

func (a *auditor) tick(kind string) {
	a.scanned[kind]++
	a.progress.update(func() string {
		return fmt.Sprintf("%s, %s, %s, %s",
			cli.Plural(a.scanned["Deployment"], "deployment"), cli.Plural(a.scanned["StatefulSet"], "statefulset"),
			cli.Plural(a.scanned["DaemonSet"], "daemonset"), cli.Plural(a.scanned["Pod"], "pod"))
	})
}

// problem records a failed request; the namespace it concerns ("" for all)
// is incomplete.
func (a *auditor) problem(p auditProblem, ns string) {
	a.report.Problems = append(a.report.Problems, p)
	if p.Resource == namespacesResource.String() {
		return // modes are unknown, but the findings are complete
	}
	for name, entry := range a.byName {
		if ns == "" || name == ns {
			entry.Complete = false
		}
	}
}

// finish sorts the report and adds up the totals.
func (a *auditor) finish() {
	r := a.report
	for _, ns := range a.byName {
		r.Namespaces = append(r.Namespaces, *ns)
	}
	slices.SortFunc(r.Namespaces, func(x, y auditNamespace) int { return strings.Compare(x.Name, y.Name) })
	r.Summary = auditSummary{Modes: map[policies.Mode]int{}, Complete: len(r.Problems) == 0}
	kindOrder := []string{"Deployment", "StatefulSet", "DaemonSet"}
	for i := range r.Namespaces {
		ns := &r.Namespaces[i]
		slices.SortStableFunc(ns.Workloads, func(x, y auditWorkload) int {
			if c := slices.Index(kindOrder, x.Kind) - slices.Index(kindOrder, y.Kind); c != 0 {
				return c
			}
			return strings.Compare(x.Name, y.Name)
		})
		slices.SortFunc(ns.Pods, func(x, y auditPod) int { return strings.Compare(x.Name, y.Name) })
		for _, w := range ns.Workloads {
			ns.Summary.Workloads++
			ns.Summary.Count(w.Findings)
			if len(w.Findings) == 0 {
				ns.Summary.Compliant++
			}
			if slices.ContainsFunc(w.Findings, func(f policies.Finding) bool { return f.Action == policies.ActionDeny }) {
				ns.Summary.Denied++
			}
		}
		ns.Summary.PodsWithoutPreStop = len(ns.Pods)
		if ns.Excluded {
			continue
		}
		r.Summary.Namespaces++
		r.Summary.Modes[ns.Mode]++
		r.Summary.add(ns.Summary)
	}
}

// clusterScoped are the resources audit reads that live outside namespaces.
var clusterScoped = map[schema.GroupResource]bool{namespacesResource: true, mutatingConfigs: true, validatingConfigs: true}

// isAPIStatus reports whether the server answered: any other error means it
// could not be reached.
func isAPIStatus(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}

// apiProblem turns a failed request into a sentence that names the resource
// and, when forbidden, the permission needed. ns is the namespace listed in,
// or for a Get of a namespace its name.
func apiProblem(verb string, resource schema.GroupResource, ns string, err error) auditProblem {
	where := ""
	switch {
	case resource == namespacesResource && ns != "":
		where = fmt.Sprintf(" %q", ns) // a Get names the namespace itself
	case clusterScoped[resource]:
	case ns == "":
		where = " in all namespaces"
	default:
		where = fmt.Sprintf(" in namespace %q", ns)
	}
	p := auditProblem{Verb: verb, Resource: resource.String(), Namespace: ns}
	prefix := fmt.Sprintf("cannot %s %s%s", verb, resource, where)
	switch {
	case apierrors.IsForbidden(err):
		scope := ""
		if where == " in all namespaces" {
			scope = " at cluster scope"
		}
		p.Reason = "forbidden"
		p.Message = fmt.Sprintf("%s: forbidden (needs %q on %s%s)", prefix, verb, resource, scope)
	case apierrors.IsUnauthorized(err):
		p.Reason = "unauthorized"
		p.Message = prefix + ": unauthorized: the credentials were rejected"
	case apierrors.IsNotFound(err):
		p.Reason = "not-found"
		p.Message = fmt.Sprintf("%s: not found (%v)", prefix, err)
	case !isAPIStatus(err):
		p.Reason = "unreachable"
		p.Message = fmt.Sprintf("%s: %v", prefix, err)
	default:
		p.Reason = "error"
		p.Message = fmt.Sprintf("%s: %v", prefix, err)
	}
	return p
}
