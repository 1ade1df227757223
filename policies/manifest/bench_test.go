package manifest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gracekeeper/gracekeeper/policies"
)

// BenchmarkFix writes a preStop hook and a grace period into every
// Deployment of a multi-document file, and of a List. x-parse is its cost as
// a multiple of parsing the same file, measured in the same run: it stays
// flat as the file grows, because each fix parses and edits only its own
// document (or List item).
func BenchmarkFix(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var docs []string
		for i := range n {
			docs = append(docs, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
spec:
  template:
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: server
          image: registry.example/app:%d
          ports:
          - containerPort: 8080
`, i, i))
		}
		documents := []byte("# generated\n---\n" + strings.Join(docs, "---\n"))
		// The same Deployments as one List, as "kubectl get -o yaml" writes them.
		items := "apiVersion: v1\nitems:\n"
		for _, doc := range docs {
			items += "- " + strings.ReplaceAll(strings.TrimSuffix(doc, "\n"), "\n", "\n  ") + "\n"
		}
		list := []byte(items + "kind: List\nmetadata:\n  resourceVersion: \"\"\n")
		ops := []policies.PatchOp{
			{Op: "add", Path: "/spec/template/spec/containers/0/lifecycle", Value: lifecycle},
			{Op: "replace", Path: "/spec/template/spec/terminationGracePeriodSeconds", Value: 30},
		}
		for shape, data := range map[string][]byte{"documents": documents, "list": list} {
			fix := func() {
				f, err := Parse("app.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				objects, _ := f.Objects()
				for i := range objects {
					if err := objects[i].Apply(ops); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run(fmt.Sprintf("%s/deployments=%d", shape, n), func(b *testing.B) {
				// The baseline: the fastest of a few parses of the same file.
				parse := time.Duration(math.MaxInt64)
				for range 5 {
					start := time.Now()
					if _, err := Parse("app.yaml", data); err != nil {
						b.Fatal(err)
					}
					parse = min(parse, time.Since(start))
				}
				b.ResetTimer()
				for b.Loop() {
					fix()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(parse.Nanoseconds()), "x-parse")
			})
		}
	}
}
