package bench

import (
	"fmt"
	"net/http"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// MinimalMux serves policytest.Minimal on the paths the benchmark's floor webhook
// configurations call: /mutate/empty answers "[]", /mutate/patch answers
// podPatch to Pods, /validate allows; and GET /readyz.
func MinimalMux(podPatch []byte) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /mutate/empty", policytest.Minimal([]byte("[]")))
	mux.Handle("POST /mutate/patch", policytest.Minimal(podPatch))
	mux.Handle("POST /validate", policytest.Minimal(nil))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}
