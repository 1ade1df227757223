package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// parentReader reads the object a subresource request addresses (the Pod of
// an eviction, the workload of a /scale) with a get on that one object: the
// chart's ClusterRole grants get on pods, deployments, statefulsets and
// replicasets, and nothing else.
type parentReader struct {
	client kubernetes.Interface
}

// read gets r's parent within ParentReadTimeout. A parent that no longer
// exists is (nil, nil): the API server will answer the request with 404.
func (p parentReader) read(ctx context.Context, r *policies.Review) (runtime.Object, error) {
	if p.client == nil {
		return nil, errNoClient
	}
	ctx, cancel := context.WithTimeout(ctx, ParentReadTimeout)
	defer cancel()
	var (
		obj runtime.Object
		err error
	)
	get := metav1.GetOptions{}
	switch r.Kind {
	case "Pod":
		obj, err = p.client.CoreV1().Pods(r.Namespace).Get(ctx, r.Name, get)
	case "Deployment":
		obj, err = p.client.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, get)
	case "StatefulSet":
		obj, err = p.client.AppsV1().StatefulSets(r.Namespace).Get(ctx, r.Name, get)
	case "ReplicaSet":
		obj, err = p.client.AppsV1().ReplicaSets(r.Namespace).Get(ctx, r.Name, get)
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

// evaluate runs the engine on r, and again with r's parent when the first
// answer depends on it (policies.NeedsParent). When the read fails, an
// eviction is an error, so the webhook's failurePolicy decides (allowing it
// would switch force-delete off silently); a /scale keeps the first answer,
// whose hint says how to do it without the parent.
func (rv *reviewer) evaluate(ctx context.Context, r *policies.Review) ([]policies.Finding, error) {
	findings, err := rv.engine.EvaluateContext(ctx, r)
	if err != nil || !policies.NeedsParent(r, findings) {
		return findings, err
	}
	parent, err := rv.parents.read(ctx, r)
	switch {
	case err != nil && r.SubResource == "eviction":
		return nil, err
	case err != nil:
		rv.logger.WarnContext(ctx, "cannot read the parent of a subresource request; its exemption annotations are not seen",
			"webhook", rv.id, "kind", r.Kind, "subResource", r.SubResource, "namespace", r.Namespace, "name", r.Name, "err", err)
		return findings, nil
	case parent == nil:
		return findings, nil
	}
	r.Parent = parent
	return rv.engine.EvaluateContext(ctx, r)
}
