package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// The API server sends the object after its defaults and mutations: a Pod
// of 16,000 containers, 268 KB as sent, is about 4 MB in a review (each
// container gets a termination message path, a pull policy, the service
// account token's mount), and one of 178,000 containers far more than
// maxBodyBytes. Such a review is answered without being read, as the
// failure policy would (see admission.DecideLimit), from its first bytes,
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
func (h reviewHandler) answerOversized(w http.ResponseWriter, r *http.Request) {
	head := make([]byte, oversizedHeadBytes)
	n, err := io.ReadFull(r.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	hd := readHead(head[:n])
	// Read the rest into nothing, so the API server reads the answer.
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, maxOversizedBytes)); err != nil || hd.uid == "" {
		answerTooLarge(w)
		return
	}
	limit := &policies.LimitError{Object: objectRefOf(hd), What: "bytes", Count: int(r.ContentLength), Max: int(maxBodyBytes)}
	a := h.reviewer.AnswerLimit(types.UID(hd.uid), limit)
	h.logLimit(r.Context(), hd.uid, a.Decision, "kind", hd.kind, "name", hd.name)
	writeReview(w, http.StatusOK, metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}, a.Response)
}

// objectRefOf names the object of a review head as messages do: "pod/web".
func objectRefOf(h requestHead) string {
	name := h.name
	if name == "" {
		name = "(unnamed)"
	}
	return admission.BoundText(strings.ToLower(h.kind) + "/" + name)
}
