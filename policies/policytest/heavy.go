package policytest

import (
	"bytes"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LargestPodContainers is how many containers the largest Pod the API
// server accepts holds: it refuses request bodies over 3 MiB
// (k8s.io/apiserver, DefaultMaxRequestBodyBytes), and a container needs no
// more than a name to reach the webhooks, which run before validation:
// {"name":"2b750"}, 17 bytes. ContainerHeavyPod(LargestPodContainers) is
// 2.9 MiB.
const LargestPodContainers = 178_000

// containerHeavySpec is a pod spec of n containers with nothing but a name.
func containerHeavySpec(n int) []byte {
	var b bytes.Buffer
	b.Grow(17*n + 64)
	b.WriteString(`{"containers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"%x"}`, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// ContainerHeavyPod is a Pod of n containers of a name each, as JSON: the
// shape that costs a webhook the most per byte.
func ContainerHeavyPod(n int) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"heavy","namespace":%q},"spec":%s}`,
		Namespace, containerHeavySpec(n))
}

// ContainerHeavyDeployment is a Deployment whose template has n containers
// of a name each, as JSON.
func ContainerHeavyDeployment(n int) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"heavy","namespace":%q},`+
		`"spec":{"replicas":1,"selector":{"matchLabels":{"app":"heavy"}},"template":{"metadata":{"labels":{"app":"heavy"}},"spec":%s}}}`,
		Namespace, containerHeavySpec(n))
}

// ContainerHeavyReview is a person's CREATE review of ContainerHeavyPod(n)
// (kind "Pod") or ContainerHeavyDeployment(n) (kind "Deployment").
func ContainerHeavyReview(kind string, n int) ([]byte, error) {
	r := review{op: admissionv1.Create, kind: kind, name: "heavy", user: Person,
		options: &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}}}
	switch kind {
	case "Pod":
		r.resource, r.rawObject = "pods", ContainerHeavyPod(n)
	case "Deployment":
		r.resource, r.group, r.rawObject = "deployments", "apps", ContainerHeavyDeployment(n)
	default:
		return nil, fmt.Errorf("no container-heavy %s: want Pod or Deployment", kind)
	}
	return encodeReview(r)
}
