package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/policies"
)

// The API server sends the object after its defaults and mutations: a Pod
// of 16,000 containers, 268 KB as sent, is about 4 MB in a review (each
// container gets a termination message path, a pull policy, the service
// account token's mount), and one of 178,000 containers far more than
// maxBodyBytes. Such a review is answered without being read, as the
// failure policy would (see policies.DecideLimit), from its first bytes,
// which name the request's uid: the API server writes the uid first.
const (
	// oversizedHeadBytes is how much of an oversized body is read for the uid and name.
	oversizedHeadBytes = 16 << 10
	// maxOversizedBytes bounds what is read and dropped of an oversized
	// body, so that the connection stays usable.
	maxOversizedBytes = 256 << 20
)

// requestHead is what the first bytes of a review say about its request.
type requestHead struct {
	uid, kind, name string
}

// readHead reads the request's uid, kind and name from the start of a review
// body, which may be cut anywhere: it stops at the objects.
func readHead(head []byte) requestHead {
	type frame struct {
		name    string // the key this object or array is the value of
		object  bool
		key     string // the object's key whose value comes next
		wantKey bool
	}
	var h requestHead
	var stack []*frame
	inRequest := func(depth int) bool { return len(stack) == depth && stack[1].name == "request" }
	dec := json.NewDecoder(bytes.NewReader(head))
	for {
		tok, err := dec.Token()
		if err != nil {
			return h
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				f := &frame{object: d == '{', wantKey: d == '{'}
				if top != nil && top.object {
					f.name = top.key
				}
				stack = append(stack, f)
				continue
			}
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].wantKey = true
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if key, ok := tok.(string); ok && top.wantKey {
			top.key, top.wantKey = key, false
			if inRequest(2) && (key == "object" || key == "oldObject") {
				return h
			}
			continue
		}
		if value, ok := tok.(string); ok {
			switch {
			case inRequest(2) && top.key == "uid":
				h.uid = value
			case inRequest(2) && top.key == "name":
				h.name = value
			case inRequest(3) && top.name == "kind" && top.key == "kind":
				h.kind = value
			}
		}
		top.wantKey = true
	}
}

// answerOversized answers a review whose body is over maxBodyBytes.
func (rv *reviewer) answerOversized(w http.ResponseWriter, r *http.Request) {
	head := make([]byte, oversizedHeadBytes)
	n, err := io.ReadFull(r.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := readHead(head[:n])
	// Read the rest into nothing, so the API server reads the answer.
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, maxOversizedBytes)); err != nil || h.uid == "" {
		answerTooLarge(w)
		return
	}
	limit := &policies.LimitError{Object: objectRefOf(h), What: "bytes", Count: int(r.ContentLength), Max: int(maxBodyBytes)}
	d := policies.DecideLimit(rv.webhook, rv.mode, limit)
	rv.metrics.limits.WithLabelValues(rv.id, limit.Metric()).Inc()
	rv.logger.WarnContext(r.Context(), "answered a review past a bound as the failure policy would, without judging it",
		"webhook", rv.id, "uid", h.uid, "kind", h.kind, "name", h.name,
		"limit", limit.Metric(), "count", limit.Count, "max", limit.Max, "allowed", d.Allowed)
	answer := &admissionv1.AdmissionResponse{UID: types.UID(h.uid), Allowed: d.Allowed, Warnings: d.Warnings}
	if !d.Allowed {
		answer.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Message: d.Message}
	} else if rv.webhook == policies.Mutating {
		answer.Patch, answer.PatchType = []byte("[]"), ptr.To(admissionv1.PatchTypeJSONPatch)
	}
	data, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}, Response: answer})
	if err != nil {
		http.Error(w, fmt.Sprintf("encode the AdmissionReview response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// objectRefOf names the object of a review head as messages do: "pod/web".
func objectRefOf(h requestHead) string {
	name := h.name
	if name == "" {
		name = "(unnamed)"
	}
	return boundText(strings.ToLower(h.kind) + "/" + name)
}
