package admission

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"

	"github.com/gracekeeper/gracekeeper/policies"
)

// decodeReview turns an admission request into the engine's typed review.
// Object and OldObject stay nil when the request carries none (DELETE has
// no new object, CREATE no old one): never a typed nil.
func decodeReview(req *admissionv1.AdmissionRequest, t target) (*policies.Review, error) {
	r := &policies.Review{
		Operation:   policies.Operation(req.Operation),
		Kind:        t.kind.GVK.Kind,
		SubResource: req.SubResource,
		Namespace:   req.Namespace,
		Name:        req.Name,
		User:        policies.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
		DryRun:      req.DryRun != nil && *req.DryRun,
	}
	// A pod spec past the bound is answered without being decoded: 178,000
	// containers would take 70 MB as Go structs.
	for _, raw := range [][]byte{req.Object.Raw, req.OldObject.Raw} {
		if err := policies.TooManyContainers(t.kind.GVK.Kind, req.Name, countContainers(raw)); err != nil {
			return nil, err
		}
	}
	var err error
	if r.Object, err = decodeObject(req.Object, t); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if r.OldObject, err = decodeObject(req.OldObject, t); err != nil {
		return nil, fmt.Errorf("decode oldObject: %w", err)
	}
	if req.Operation != admissionv1.Delete && !absent(req.Options.Raw) {
		// CreateOptions or UpdateOptions (a PATCH arrives as UPDATE with
		// UpdateOptions). Only the field manager is read, for change-cause's
		// "via": options that do not decode name none.
		var options struct {
			FieldManager string `json:"fieldManager"`
		}
		if sigsjson.UnmarshalCaseSensitivePreserveInts(req.Options.Raw, &options) == nil {
			r.FieldManager = options.FieldManager
		}
	}
	if req.Operation == admissionv1.Delete && !absent(req.Options.Raw) {
		r.DeleteOptions = &metav1.DeleteOptions{}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Options.Raw, r.DeleteOptions); err != nil {
			return nil, fmt.Errorf("decode DELETE options: %w", err)
		}
	}
	return r, nil
}

// decodeObject decodes an object into the target's type, as the API server
// does, unless Reviewer.Decode did already; an absent object is nil.
func decodeObject(o runtime.RawExtension, t target) (runtime.Object, error) {
	if o.Object != nil {
		return o.Object, nil
	}
	if absent(o.Raw) {
		return nil, nil
	}
	return policies.Decode(t.object, o.Raw)
}

// podSpecShape and objectShape are what countContainers decodes: the
// containers of a Pod's spec and of a template (spec.template, and a
// CronJob's spec.jobTemplate.spec.template), as elements that take no memory.
type podSpecShape struct {
	Containers          []struct{} `json:"containers"`
	InitContainers      []struct{} `json:"initContainers"`
	EphemeralContainers []struct{} `json:"ephemeralContainers"`
}

type templateShape struct {
	Spec podSpecShape `json:"spec"`
}

type objectShape struct {
	Spec struct {
		podSpecShape
		Template    templateShape `json:"template"`
		JobTemplate struct {
			Spec struct {
				Template templateShape `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// countContainers counts the containers of an object's pod spec without
// decoding them, when there may be more than policies.MaxContainers; 0 when
// there cannot be, when it has none or does not decode (decodeObject says
// why).
func countContainers(raw []byte) int {
	if absent(raw) || !mayHoldContainers(raw, policies.MaxContainers+1) {
		return 0
	}
	var shape objectShape
	if sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &shape) != nil {
		return 0
	}
	count := func(s podSpecShape) int {
		return len(s.Containers) + len(s.InitContainers) + len(s.EphemeralContainers)
	}
	spec := shape.Spec
	return max(count(spec.podSpecShape), count(spec.Template.Spec), count(spec.JobTemplate.Spec.Template.Spec))
}

// mayHoldContainers tells whether raw may hold n array elements that decode
// into containers: each is a JSON object or null, so it takes a '{' or a
// "null". A typical pod has a few hundred of those together, far below the
// bound: the count spares it a second decode, which took 15% of a served
// review's CPU (BenchmarkServed).
func mayHoldContainers(raw []byte, n int) bool {
	return bytes.Count(raw, []byte{'{'})+bytes.Count(raw, []byte("null")) >= n
}

// present tells whether a request carries an object, raw or decoded.
func present(o runtime.RawExtension) bool { return o.Object != nil || !absent(o.Raw) }

func absent(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// DecodeAdmissionReview decodes a body into an admission.k8s.io/v1
// AdmissionReview, once, case-sensitively as the API server writes it, and
// says what is wrong with a body that is not one, or whose request has a
// shape the API server never sends. The objects stay raw: each path decodes
// them into the type it judges (Reviewer.Decode decodes them with the
// envelope when it can).
func DecodeAdmissionReview(body []byte) (*admissionv1.AdmissionReview, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("empty body: send an admission.k8s.io/v1 AdmissionReview")
	}
	var review admissionv1.AdmissionReview
	strict, err := sigsjson.UnmarshalStrict(body, &review, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		// Only a body that does not decode is read again, to say why.
		if err := checkTypeMeta(body); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if err := checkReview(&review, strict); err != nil {
		return nil, err
	}
	return &review, nil
}

// checkReview says what is wrong with a decoded review, given the strict
// errors of its decoding: another kind of review, a field given twice or
// spelled in another case, too many strict errors to tell, or a request of
// a shape the API server never sends.
func checkReview(review *admissionv1.AdmissionReview, strict []error) error {
	if err := checkKind(review.TypeMeta); err != nil {
		return err
	}
	if len(strict) >= maxStrictErrors {
		return fmt.Errorf("malformed AdmissionReview: %d or more unknown or duplicate fields, past which they are not checked (the first: %v)", maxStrictErrors, strict[0])
	}
	if err := checkStrict(strict); err != nil {
		return err
	}
	return checkRequest(review.Request)
}

// maxStrictErrors is how many strict errors sigs.k8s.io/json keeps: it
// drops the rest (saveStrictError), so a body with more could hide a field
// given twice or spelled in another case behind them.
const maxStrictErrors = 100

// checkStrict refuses a field given twice, and a field that differs only in
// case from one the review has: a case-insensitive reader (as kubewebhook's
// is) would take it for the other, so the body means two things. Other
// unknown fields are a newer API server's, and are ignored.
func checkStrict(strict []error) error {
	for _, err := range strict {
		var fieldErr sigsjson.FieldError
		if !errors.As(err, &fieldErr) || !strings.HasPrefix(err.Error(), "unknown field ") {
			return fmt.Errorf("malformed AdmissionReview: %w", err)
		}
		path := fieldErr.FieldPath()
		field := path[strings.LastIndex(path, ".")+1:]
		if known, ok := reviewFieldNames[strings.ToLower(field)]; ok && known != field {
			return fmt.Errorf("malformed AdmissionReview: field %q differs only in case from %q; JSON field names are case-sensitive", path, known)
		}
	}
	return nil
}

// reviewFieldNames maps the lower-cased JSON names of the fields an
// AdmissionReview's envelope has to their spelling.
var reviewFieldNames = func() map[string]string {
	names := map[string]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[runtime.RawExtension]() {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				names[strings.ToLower(name)] = name
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[admissionv1.AdmissionReview]())
	return names
}()

// checkRequest refuses a request without what every answer needs, or of a
// shape the API server never sends: those are crafted, and allowing them by
// default would let a caller pass the guards.
func checkRequest(req *admissionv1.AdmissionRequest) error {
	switch {
	case req == nil:
		return errors.New("AdmissionReview has no request")
	case req.UID == "":
		return errors.New("AdmissionReview request has no uid, which the response must echo")
	}
	object, oldObject := present(req.Object), present(req.OldObject)
	switch req.Operation {
	case admissionv1.Create:
		if !object {
			return errors.New("AdmissionReview request is a CREATE without an object")
		}
	case admissionv1.Update:
		if !object || !oldObject {
			return errors.New("AdmissionReview request is an UPDATE without both object and oldObject")
		}
	case admissionv1.Delete:
		if !oldObject {
			return errors.New("AdmissionReview request is a DELETE without an oldObject")
		}
	case admissionv1.Connect:
	default:
		return fmt.Errorf("AdmissionReview request has operation %q: want CREATE, UPDATE, DELETE or CONNECT", req.Operation)
	}
	return nil
}

// checkTypeMeta says what is wrong with a body that is not JSON, or not an
// AdmissionReview.
func checkTypeMeta(body []byte) error {
	var typeMeta metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &typeMeta); err != nil {
		return fmt.Errorf("body is not a JSON AdmissionReview: %w", err)
	}
	return checkKind(typeMeta)
}

func checkKind(typeMeta metav1.TypeMeta) error {
	if typeMeta.APIVersion != admissionv1.SchemeGroupVersion.String() || typeMeta.Kind != "AdmissionReview" {
		return fmt.Errorf("body is apiVersion %q kind %q: send an admission.k8s.io/v1 AdmissionReview", BoundText(typeMeta.APIVersion), BoundText(typeMeta.Kind))
	}
	return nil
}
