package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/policies"
)

// ParentReadTimeout bounds the one API read gracekeeper makes while it
// answers: well inside the webhook's timeoutSeconds (5 by default), so a slow
// API server costs an error the failurePolicy handles, not the API server's
// own timeout.
const ParentReadTimeout = 2 * time.Second

// errNoClient is the read error when serve found no API client at start-up.
var errNoClient = errors.New("gracekeeper has no API client (it runs outside a cluster without --kubeconfig)")

// parentReader is admission.Parents read from the API server with
// client-go. It reads the object a subresource request addresses (the Pod of
// an eviction, the workload of a /scale, Argo Rollouts included) with a get
// on that one object, and what a namespace under DELETE holds with one list
// per workload kind, and a workload's rollout history with one list: only
// the gets and lists the chart's ClusterRole grants, which are
// admission.Reads (the entry table's subresources, namespace DELETE and
// history), and nothing else.
type parentReader struct {
	client kubernetes.Interface
}

// Parent gets r's parent within ParentReadTimeout. A parent that no longer
// exists is (nil, nil): the API server will answer the request with 404.
func (p parentReader) Parent(ctx context.Context, r *policies.Review) (runtime.Object, error) {
	if p.client == nil {
		return nil, errNoClient
	}
	ctx, cancel := context.WithTimeout(ctx, ParentReadTimeout)
	defer cancel()
	var (
		obj runtime.Object
		err error
	)
	switch clientOf, ok := typedClients[r.Kind]; {
	case r.Kind == "Namespace":
		return p.namespaceWorkloads(ctx, r.Name)
	case r.Kind == policies.RolloutGVK.Kind:
		obj, err = p.getRollout(ctx, r.Namespace, r.Name)
	case ok:
		obj, err = clientOf(p.client, r.Namespace).get(ctx, r.Name)
	default:
		return nil, fmt.Errorf("gracekeeper does not read %s objects", r.Kind)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
	}
	return obj, nil
}

// typedClients are client-go's typed clients of the built-in kinds
// gracekeeper reads, by kind name (policies' kinds table): the Pod of an
// eviction and the workload of a /scale (gets), what a namespace holds
// (lists, policies.NamespaceListKinds).
var typedClients = map[string]func(client kubernetes.Interface, namespace string) objectClient{
	"Pod":         func(c kubernetes.Interface, ns string) objectClient { return typed(c.CoreV1().Pods(ns)) },
	"Deployment":  func(c kubernetes.Interface, ns string) objectClient { return typed(c.AppsV1().Deployments(ns)) },
	"StatefulSet": func(c kubernetes.Interface, ns string) objectClient { return typed(c.AppsV1().StatefulSets(ns)) },
	"DaemonSet":   func(c kubernetes.Interface, ns string) objectClient { return typed(c.AppsV1().DaemonSets(ns)) },
	"ReplicaSet":  func(c kubernetes.Interface, ns string) objectClient { return typed(c.AppsV1().ReplicaSets(ns)) },
}

// objectClient gets one object of a kind in a namespace, or lists them.
type objectClient struct {
	get  func(ctx context.Context, name string) (runtime.Object, error)
	list func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
}

// typed is the objectClient of a client-go typed client (PodInterface,
// DeploymentInterface...).
func typed[T, L runtime.Object](c interface {
	Get(context.Context, string, metav1.GetOptions) (T, error)
	List(context.Context, metav1.ListOptions) (L, error)
}) objectClient {
	return objectClient{
		get: func(ctx context.Context, name string) (runtime.Object, error) {
			return c.Get(ctx, name, metav1.GetOptions{})
		},
		list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return c.List(ctx, opts)
		},
	}
}

// namespaceWorkloads lists, at once and within the caller's deadline, the
// workloads of a namespace under DELETE (policies.NamespaceListKinds): the
// chart's ClusterRole grants list on those kinds. Any failed list fails the
// read, so the guard answers as documented without it.
func (p parentReader) namespaceWorkloads(ctx context.Context, namespace string) (runtime.Object, error) {
	opts := metav1.ListOptions{Limit: policies.NamespaceListLimit}
	kinds := policies.NamespaceListKinds()
	type result struct {
		objs []runtime.Object
		more bool
		err  error
	}
	results := make([]result, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		clientOf, ok := typedClients[kind]
		if !ok {
			return nil, fmt.Errorf("gracekeeper does not list %s objects", kind)
		}
		wg.Go(func() {
			objs, next, err := items(clientOf(p.client, namespace).list(ctx, opts))
			results[i] = result{objs: objs, more: next != "", err: err}
		})
	}
	wg.Wait()
	held := &policies.NamespaceWorkloads{}
	for i, res := range results {
		if res.err != nil {
			return nil, fmt.Errorf("list %s in namespace %s: %w", kinds[i], namespace, res.err)
		}
		held.Holds(res.objs)
		held.More = held.More || res.more
	}
	return held, nil
}

// items turns a typed list into its objects (pointers into its items) and
// continue token.
func items(list runtime.Object, err error) ([]runtime.Object, string, error) {
	if err != nil {
		return nil, "", err
	}
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, "", err
	}
	l, err := meta.ListAccessor(list)
	if err != nil {
		return nil, "", err
	}
	return objs, l.GetContinue(), nil
}

// History lists the rollout history of r's workload as `kubectl rollout
// history` reads it, within ParentReadTimeout: one list in the namespace by
// the stored object's selector, keeping the objects it controls (by uid). A
// Deployment's revisions are its ReplicaSets, numbered by their
// deployment.kubernetes.io/revision annotation; a StatefulSet's or
// DaemonSet's are its ControllerRevisions, whose data holds the template.
func (p parentReader) History(ctx context.Context, r *policies.Review) (*policies.History, error) {
	if p.client == nil {
		return nil, errNoClient
	}
	owner, err := meta.Accessor(r.OldObject)
	if err != nil {
		return nil, fmt.Errorf("read the stored %s: %w", r.Kind, err)
	}
	var selector *metav1.LabelSelector
	switch o := r.OldObject.(type) {
	case *appsv1.Deployment:
		selector = o.Spec.Selector
	case *appsv1.StatefulSet:
		selector = o.Spec.Selector
	case *appsv1.DaemonSet:
		selector = o.Spec.Selector
	default:
		return nil, fmt.Errorf("gracekeeper reads no rollout history of %s objects", r.Kind)
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("selector of %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, ParentReadTimeout)
	defer cancel()
	list := metav1.ListOptions{LabelSelector: sel.String()}
	h := &policies.History{}
	if r.Kind == "Deployment" {
		rss, err := p.client.AppsV1().ReplicaSets(r.Namespace).List(ctx, list)
		if err != nil {
			return nil, fmt.Errorf("list the ReplicaSets of deployment %s/%s: %w", r.Namespace, r.Name, err)
		}
		for i := range rss.Items {
			rs := &rss.Items[i]
			n, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
			if !metav1.IsControlledBy(rs, owner) || err != nil {
				continue
			}
			h.Revisions = append(h.Revisions, policies.Revision{Number: n, Template: rs.Spec.Template,
				ChangeCause: rs.Annotations[policies.ChangeCauseAnnotation]})
		}
		return h, nil
	}
	crs, err := p.client.AppsV1().ControllerRevisions(r.Namespace).List(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("list the ControllerRevisions of %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
	}
	for i := range crs.Items {
		cr := &crs.Items[i]
		// The controllers store {"spec":{"template":{...,"$patch":"replace"}}}.
		var data struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if !metav1.IsControlledBy(cr, owner) || json.Unmarshal(cr.Data.Raw, &data) != nil {
			continue
		}
		h.Revisions = append(h.Revisions, policies.Revision{Number: cr.Revision, Template: data.Spec.Template,
			ChangeCause: cr.Annotations[policies.ChangeCauseAnnotation]})
	}
	return h, nil
}

// revisionAnnotation numbers a Deployment's ReplicaSets (k8s.io/kubectl
// pkg/util/deployment.RevisionAnnotation).
const revisionAnnotation = "deployment.kubernetes.io/revision"

// getRollout reads an Argo Rollout, a CRD the typed clientset does not know,
// with a raw GET decoded as the webhook decodes a request's object.
func (p parentReader) getRollout(ctx context.Context, namespace, name string) (runtime.Object, error) {
	rest := p.client.Discovery().RESTClient()
	if rest == nil {
		return nil, errNoClient
	}
	gv := policies.RolloutGVK.GroupVersion()
	raw, err := rest.Get().AbsPath("/apis", gv.Group, gv.Version, "namespaces", namespace, "rollouts", name).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	return policies.Decode(policies.RolloutGVK, raw)
}
