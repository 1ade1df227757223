package policytest

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestTheTypicalPodIsAboutFiveKilobytes(t *testing.T) {
	var review admissionv1.AdmissionReview
	body, err := PodCreateReview(TypicalContainers)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &review); err != nil {
		t.Fatal(err)
	}
	if n := len(review.Request.Object.Raw); n < 4000 || n > 6500 {
		t.Errorf("the typical pod is %d bytes of JSON, want about 5 KB", n)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Lifecycle != nil || c.ReadinessProbe == nil || len(c.Env) == 0 || len(c.VolumeMounts) == 0 {
			t.Errorf("container %s: want probes, env and mounts and no preStop hook", c.Name)
		}
	}
}
