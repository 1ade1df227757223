package deploy

import (
	"fmt"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestScratchDump(t *testing.T) {
	objs, err := RenderChart("gracekeeper", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		b, _ := yaml.Marshal(o.Object)
		fmt.Printf("---\n%s", b)
	}
}
