package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Parents reads what an answer depends on and a request does not carry, as
// pod-security-admission reads a namespace's pods through its PodLister. The
// webhook's implementation reads the API server with client-go; tests use
// a fake.
type Parents interface {
	// Parent is the object a subresource request addresses (the Pod of an
	// eviction, the workload of a /scale), or what a namespace under DELETE
	// holds (*policies.NamespaceWorkloads); (nil, nil) when it no longer exists.
	// An error makes an eviction's answer an internal error (the
	// failurePolicy decides) and leaves the others without it (see evaluate).
	Parent(ctx context.Context, r *policies.Review) (runtime.Object, error)
	// History is the rollout history of r's stored workload (r.OldObject),
	// as `kubectl rollout history` reads it: a Deployment's ReplicaSets, a
	// StatefulSet's or DaemonSet's ControllerRevisions. An error leaves the
	// answer without it (change-cause then recognises no rollback).
	History(ctx context.Context, r *policies.Review) (*policies.History, error)
}

// evaluate runs the engine on r, and again with what the first answer
// depends on and the request does not carry: r's parent
// (policies.NeedsParent), or, for the mutating webhook, which answers
// change-cause, the workload's rollout history (Engine.NeedsHistory). When
// the parent read fails, an eviction is an error, so the webhook's
// failurePolicy decides (allowing it would switch force-delete off
// silently); a /scale keeps the first answer, whose hint says how to do it
// without the parent; a namespace DELETE keeps the documented guard, whose
// message says gracekeeper could not list what it holds. When the history
// read fails, the first answer stands: the change-cause then says what
// changed rather than which revision it restores.
func (rv *Reviewer) evaluate(ctx context.Context, r *policies.Review) ([]policies.Finding, error) {
	findings, err := rv.engine.EvaluateContext(ctx, r)
	if err != nil {
		return nil, err
	}
	if rv.webhook == Mutating && rv.engine.NeedsHistory(r, findings) {
		h, err := rv.parents.History(ctx, r)
		if err != nil {
			rv.logger.WarnContext(ctx, "cannot read a workload's rollout history; change-cause does not recognise a rollback",
				"webhook", rv.id, "kind", r.Kind, "namespace", r.Namespace, "name", r.Name, "err", err)
			return findings, nil
		}
		r.History = h
		if findings, err = rv.engine.EvaluateContext(ctx, r); err != nil {
			return nil, err
		}
	}
	if !policies.NeedsParent(r, findings) {
		return findings, nil
	}
	parent, err := rv.parents.Parent(ctx, r)
	switch {
	case err != nil && r.SubResource == "eviction":
		return nil, err
	case err != nil:
		rv.logger.WarnContext(ctx, "cannot read the parent of a request (a subresource's object, or what a deleted namespace holds); answering without it",
			"webhook", rv.id, "kind", r.Kind, "subResource", r.SubResource, "namespace", r.Namespace, "name", r.Name, "err", err)
		return findings, nil
	case parent == nil:
		return findings, nil
	}
	r.Parent = parent
	return rv.engine.EvaluateContext(ctx, r)
}
