// Package deploy holds the manifests that install gracekeeper, a Helm chart and
// a kustomize base, and renders them in-process, so that tests and the
// end-to-end harness work with exactly what users install.
package deploy

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	// ChartDir is the chart's directory, relative to this package.
	ChartDir = "helm/gracekeeper"
	// KustomizeDir is the kustomize base's directory, relative to this package.
	KustomizeDir = "kustomize"
	// ReleaseName is the Helm release RenderChart renders. With the chart's
	// name it makes every object's base name "gracekeeper".
	ReleaseName = "gracekeeper"
)

// The all: prefix keeps templates/_helpers.tpl, which embed skips otherwise.
//
//go:embed all:helm/gracekeeper
var chartFiles embed.FS

//go:embed kustomize
var kustomizeFiles embed.FS

// eachFile calls each with the path and content of every file under root in
// files, stopping at the first error.
func eachFile(files embed.FS, root string, each func(p string, data []byte) error) error {
	return fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return each(p, data)
	})
}

// LoadChart loads the embedded chart.
func LoadChart() (*chart.Chart, error) {
	var files []*archive.BufferedFile
	err := eachFile(chartFiles, ChartDir, func(p string, data []byte) error {
		files = append(files, &archive.BufferedFile{Name: strings.TrimPrefix(p, ChartDir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart: %w", err)
	}
	return c, nil
}

// RenderChart renders the chart as `helm install` would for the release
// ReleaseName in namespace: values are merged over values.yaml and validated
// against values.schema.json, and a violation is an error. It returns the
// release's objects in Helm's install order, then its hooks (see IsHook).
func RenderChart(namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	c, err := LoadChart()
	if err != nil {
		return nil, err
	}
	return RenderRelease(c, namespace, values)
}

// RenderRelease renders any chart c, with its dependencies, as `helm install`
// does for the release ReleaseName in namespace: dependency conditions and
// tags are applied, values are merged over each chart's values.yaml (globals
// passed down) and validated against each chart's schema. It returns the
// objects in Helm's install order, then the hooks.
func RenderRelease(c *chart.Chart, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	if err := chartv2util.ProcessDependencies(c, values); err != nil {
		return nil, fmt.Errorf("chart dependencies: %w", err)
	}
	release := common.ReleaseOptions{Name: ReleaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	renderValues, err := chartutil.ToRenderValues(c, values, release, nil)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	files, err := engine.Render(c, renderValues)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("sort rendered manifests: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, m := range manifests {
		if objs, err = appendObject(objs, m.Name, m.Content); err != nil {
			return nil, err
		}
	}
	for _, h := range hooks {
		if objs, err = appendObject(objs, h.Path, h.Manifest); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// appendObject decodes one rendered YAML document, skipping documents that
// hold only comments.
func appendObject(objs []*unstructured.Unstructured, source, doc string) ([]*unstructured.Unstructured, error) {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", source, err)
	}
	if len(m) == 0 {
		return objs, nil
	}
	return append(objs, &unstructured.Unstructured{Object: m}), nil
}

// IsHook reports whether obj is a Helm hook: Helm creates it around an
// install, upgrade or delete instead of with the release.
func IsHook(obj *unstructured.Unstructured) bool {
	_, ok := obj.GetAnnotations()["helm.sh/hook"]
	return ok
}

// RenderKustomize builds the embedded kustomize base with the kustomize API,
// as `kubectl apply -k` would.
func RenderKustomize() ([]*unstructured.Unstructured, error) {
	return renderKustomize(KustomizeDir, nil)
}

// renderKustomize builds the kustomization in dir of an in-memory copy of the
// embedded base (under /kustomize) with more files (by absolute path) added.
func renderKustomize(dir string, more map[string]string) ([]*unstructured.Unstructured, error) {
	mem := filesys.MakeFsInMemory()
	err := eachFile(kustomizeFiles, KustomizeDir, func(p string, data []byte) error {
		return mem.WriteFile(path.Join("/", p), data)
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded kustomize base: %w", err)
	}
	for name, data := range more {
		if err := mem.WriteFile(name, []byte(data)); err != nil {
			return nil, err
		}
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, path.Join("/", dir))
	if err != nil {
		return nil, fmt.Errorf("build kustomization %s: %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("kustomize resource %s: %w", r.CurId(), err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs, nil
}

// WebhookConfigurations returns the mutating and validating webhook
// configurations among objs, decoded strictly into their API types.
func WebhookConfigurations(objs []*unstructured.Unstructured) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var mutating *admissionregistrationv1.MutatingWebhookConfiguration
	var validating *admissionregistrationv1.ValidatingWebhookConfiguration
	for _, obj := range objs {
		var err error
		switch obj.GroupVersionKind() {
		case admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration"):
			err = decodeOnly(obj, &mutating)
		case admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"):
			err = decodeOnly(obj, &validating)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if mutating == nil || validating == nil {
		return nil, nil, fmt.Errorf("want one MutatingWebhookConfiguration and one ValidatingWebhookConfiguration, found mutating %t, validating %t", mutating != nil, validating != nil)
	}
	return mutating, validating, nil
}

// decodeOnly decodes obj into a new *into, the only object of its kind: an
// error when *into is already set.
func decodeOnly[T any, PT interface {
	*T
	GetName() string
}](obj *unstructured.Unstructured, into *PT) error {
	if *into != nil {
		return fmt.Errorf("more than one %s: %s and %s", obj.GetKind(), (*into).GetName(), obj.GetName())
	}
	*into = new(T)
	return Decode(obj, *into)
}

// Decode converts obj into the typed object into. A field that the type does
// not know is an error, so a misspelt field in a template cannot go unnoticed.
func Decode(obj *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, into, true); err != nil {
		return fmt.Errorf("decode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}
