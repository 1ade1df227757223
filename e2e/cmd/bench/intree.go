package main

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/deploy"
	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

// inTreeLabel selects the namespaces the in-tree policies are bound to.
const inTreeLabel = "bench.gracekeeper.io/admission"

// inTreePolicies do with admissionregistration.k8s.io/v1 policies what
// gracekeeper does in enforce mode for the benchmark's requests: a preStop
// sleep of 5 s for every container without a hook, in pods that serve; a
// grace period of at least that sleep plus the default 25 s to drain; and
// a denial of Deployments with strategy Recreate and StatefulSets or
// DaemonSets with updateStrategy OnDelete, with gracekeeper's exceptions
// (an object that already had it; OnDelete on an operator-managed object).
// The MutatingAdmissionPolicy comes in two forms, ApplyConfiguration and
// JSONPatch, each bound to a namespace of its own. The
// ValidatingAdmissionPolicy also gets the matchConditions of gracekeeper's
// validating webhooks that spare the system actors.
//
// gracekeeper's grace period is the longest preStop sleep plus 25 s, which
// is 30 s here, since no container has a hook of its own.
// podPolicyHead is what both forms of the MutatingAdmissionPolicy share:
// the pods they judge, and their containers without a hook.
const podPolicyHead = `  failurePolicy: Fail
  reinvocationPolicy: IfNeeded
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE]
      resources: [pods]
  matchConditions:
  - name: serving-pods
    expression: object.spec.restartPolicy == 'Always'
  - name: not-mirror-pods
    expression: "!('kubernetes.io/config.mirror' in object.metadata.?annotations.orValue({}))"
  variables:
  - name: unhooked
    expression: object.spec.containers.filter(c, !has(c.lifecycle) || !has(c.lifecycle.preStop))
`

const inTreePolicies = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: bench-graceful-pods
spec:
` + podPolicyHead + `  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: |
        Object{
          spec: Object.spec{
            containers: variables.unhooked.map(c, Object.spec.containers{
              name: c.name,
              lifecycle: Object.spec.containers.lifecycle{
                preStop: Object.spec.containers.lifecycle.preStop{
                  sleep: Object.spec.containers.lifecycle.preStop.sleep{seconds: 5}
                }
              }
            })
          }
        }
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: |
        object.spec.?terminationGracePeriodSeconds.orValue(30) >= 30 ? Object{} :
        Object{
          spec: Object.spec{
            terminationGracePeriodSeconds: 30
          }
        }
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: bench-graceful-pods
spec:
  policyName: bench-graceful-pods
  matchResources:
    namespaceSelector:
      matchLabels:
        ` + inTreeLabel + `: in-tree
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: bench-graceful-pods-jsonpatch
spec:
` + podPolicyHead + `  mutations:
  - patchType: JSONPatch
    jsonPatch:
      expression: |
        variables.unhooked.map(c, has(c.lifecycle) ?
          JSONPatch{
            op: "add",
            path: "/spec/containers/" + string(object.spec.containers.indexOf(c)) + "/lifecycle/preStop",
            value: Object.spec.containers.lifecycle.preStop{sleep: Object.spec.containers.lifecycle.preStop.sleep{seconds: 5}}
          } :
          JSONPatch{
            op: "add",
            path: "/spec/containers/" + string(object.spec.containers.indexOf(c)) + "/lifecycle",
            value: Object.spec.containers.lifecycle{
              preStop: Object.spec.containers.lifecycle.preStop{sleep: Object.spec.containers.lifecycle.preStop.sleep{seconds: 5}}
            }
          }) +
        (object.spec.?terminationGracePeriodSeconds.orValue(30) >= 30 ? [] :
          [JSONPatch{op: "add", path: "/spec/terminationGracePeriodSeconds", value: 30}])
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: bench-graceful-pods-jsonpatch
spec:
  policyName: bench-graceful-pods-jsonpatch
  matchResources:
    namespaceSelector:
      matchLabels:
        ` + inTreeLabel + `: jsonpatch
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: bench-rolling-updates
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments, statefulsets, daemonsets]
  validations:
  - expression: |
      request.kind.kind != 'Deployment' ||
      object.spec.?strategy.?type.orValue('RollingUpdate') != 'Recreate' ||
      (oldObject != null && oldObject.spec.?strategy.?type.orValue('RollingUpdate') == 'Recreate')
    message: "recreate-strategy: strategy Recreate stops every pod before the new ones start; use RollingUpdate"
  - expression: |
      request.kind.kind == 'Deployment' ||
      object.spec.?updateStrategy.?type.orValue('RollingUpdate') != 'OnDelete' ||
      (oldObject != null && oldObject.spec.?updateStrategy.?type.orValue('RollingUpdate') == 'OnDelete') ||
      object.metadata.?ownerReferences.orValue([]).exists(r, r.?controller.orValue(false))
    message: "update-strategy: updateStrategy OnDelete never replaces a pod until someone deletes it; use RollingUpdate"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: bench-rolling-updates
spec:
  policyName: bench-rolling-updates
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        ` + inTreeLabel + `: in-tree
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: bench-rolling-updates-jsonpatch
spec:
  policyName: bench-rolling-updates
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        ` + inTreeLabel + `: jsonpatch
`

// installInTreePolicies creates the in-tree policies and their bindings.
// The ValidatingAdmissionPolicy gets matchConditions, which it returns.
func installInTreePolicies(ctx context.Context, client kubernetes.Interface) ([]admissionregistrationv1.MatchCondition, error) {
	matchConditions, err := gracekeeperMatchConditions()
	if err != nil {
		return nil, err
	}
	api := client.AdmissionregistrationV1()
	for _, doc := range strings.Split(inTreePolicies, "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, fmt.Errorf("in-tree policy: %w", err)
		}
		switch meta.Kind {
		case "MutatingAdmissionPolicy":
			var p admissionregistrationv1.MutatingAdmissionPolicy
			if err = yaml.UnmarshalStrict([]byte(doc), &p); err == nil {
				_, err = api.MutatingAdmissionPolicies().Create(ctx, &p, metav1.CreateOptions{})
			}
		case "MutatingAdmissionPolicyBinding":
			var b admissionregistrationv1.MutatingAdmissionPolicyBinding
			if err = yaml.UnmarshalStrict([]byte(doc), &b); err == nil {
				_, err = api.MutatingAdmissionPolicyBindings().Create(ctx, &b, metav1.CreateOptions{})
			}
		case "ValidatingAdmissionPolicy":
			var p admissionregistrationv1.ValidatingAdmissionPolicy
			if err = yaml.UnmarshalStrict([]byte(doc), &p); err == nil {
				p.Spec.MatchConditions = matchConditions
				_, err = api.ValidatingAdmissionPolicies().Create(ctx, &p, metav1.CreateOptions{})
			}
		case "ValidatingAdmissionPolicyBinding":
			var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
			if err = yaml.UnmarshalStrict([]byte(doc), &b); err == nil {
				_, err = api.ValidatingAdmissionPolicyBindings().Create(ctx, &b, metav1.CreateOptions{})
			}
		default:
			err = fmt.Errorf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("in-tree %s: %w", meta.Kind, err)
		}
	}
	return matchConditions, nil
}

// gracekeeperMatchConditions are the requester exclusions of the chart's
// validating webhooks, rendered with the values the benchmark installs
// gracekeeper with.
func gracekeeperMatchConditions() ([]admissionregistrationv1.MatchCondition, error) {
	objs, err := deploy.RenderChart(cluster.WebhookNamespace, nil)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	_, validating, err := deploy.WebhookConfigurations(objs)
	if err != nil {
		return nil, err
	}
	if len(validating.Webhooks) == 0 {
		return nil, fmt.Errorf("the chart renders no validating webhooks")
	}
	// Only the requester exclusions: the others skip objects by what
	// gracekeeper would do to them, which the in-tree policies do not.
	var conditions []admissionregistrationv1.MatchCondition
	for _, mc := range validating.Webhooks[0].MatchConditions {
		if strings.HasPrefix(mc.Name, "exclude-system-and-exempt-") {
			conditions = append(conditions, mc)
		}
	}
	return conditions, nil
}
