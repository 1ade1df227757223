package check

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// releaseName is the Helm release name charts are rendered with, as
// "helm template" names it.
const releaseName = "release-name"

// renderChart renders the chart in dir as "helm template dir" would, with
// --values, --set and --kube-version, client-side only: lookup returns
// nothing. Each template's output is a source named by the template's file.
// A chart whose kubeVersion excludes --kube-version, which helm template
// refuses, is rendered anyway with a warning: --kube-version has a default,
// and a CI gate must not fail on a chart only because it targets a newer
// cluster.
func (o *Options) renderChart(dir string) (sources []*source, warnings []string, err error) {
	sources, err = o.renderChartSources(dir, func(w string) { warnings = append(warnings, w) })
	return sources, warnings, err
}

func (o *Options) renderChartSources(dir string, warn func(string)) ([]*source, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load the Helm chart: %w", err)
	}
	var missing []string
	for _, d := range c.Metadata.Dependencies {
		if !slices.ContainsFunc(c.Dependencies(), func(sub *chart.Chart) bool { return sub.Name() == d.Name }) {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the chart's dependencies %s are not in its charts/ directory: run \"helm dependency build %s\" first, or --exclude it", strings.Join(missing, ", "), dir)
	}
	vals, err := o.helmValues()
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	kubeVersion, err := common.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("--kube-version: %w", err)
	}
	caps.KubeVersion = *kubeVersion
	if want := c.Metadata.KubeVersion; want != "" && !chartutil.IsCompatibleRange(want, kubeVersion.String()) {
		warn(fmt.Sprintf("%s: the chart requires kubeVersion %s, which Kubernetes %s (--kube-version) is not, so helm template would refuse it; "+
			"it is rendered with %s anyway: pass the --kube-version your cluster runs", dir, want, kubeVersion.Version, kubeVersion.Version))
	}
	if err := chartutil.ProcessDependencies(c, vals); err != nil {
		return nil, fmt.Errorf("the chart's dependencies: %w", err)
	}
	renderValues, err := commonutil.ToRenderValues(c, vals,
		common.ReleaseOptions{Name: releaseName, Namespace: "default", Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return nil, fmt.Errorf("the chart's values: %w", err)
	}
	files, err := engine.Render(c, renderValues)
	if err != nil {
		return nil, fmt.Errorf("render the Helm chart: %w", err)
	}
	names := make([]string, 0, len(files))
	for name, text := range files {
		base := path.Base(name)
		if strings.TrimSpace(text) == "" || base == "NOTES.txt" || strings.HasPrefix(base, "_") {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var sources []*source
	for _, name := range names {
		// The engine names a template "chart-name/templates/x.yaml"; the
		// file is under dir.
		_, rest, _ := strings.Cut(name, "/")
		file := filepath.Join(dir, filepath.FromSlash(rest))
		f, err := manifest.Parse(file, []byte(files[name]))
		if err != nil {
			return sources, fmt.Errorf("the rendered %s: %w", file, err)
		}
		sources = append(sources, &source{file: f, rendered: true, root: dir, renderer: "chart"})
	}
	return sources, nil
}

// helmValues merges --values files, then --set values, as helm does (later
// ones win; maps merge key by key).
func (o *Options) helmValues() (map[string]any, error) {
	vals := map[string]any{}
	for _, file := range o.Values {
		v, err := common.ReadValuesFile(file)
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", file, err)
		}
		vals = mergeMaps(vals, v)
	}
	for _, set := range o.Set {
		if err := strvals.ParseInto(set, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", set, err)
		}
	}
	return vals, nil
}

// mergeMaps merges b into a, as helm merges values files.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// renderKustomization builds the kustomization in dir as "kustomize build
// dir" would (with the defaults of kubectl kustomize: no plugins, load
// restrictions on). Origin annotations are switched on for the build, so
// each object is a source named by the file it came from, and removed from
// the objects again.
func renderKustomization(dir string) ([]*source, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(originsOn{filesys.MakeFsOnDisk()}, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var sources []*source
	for _, res := range resources.Resources() {
		file := filepath.Join(dir, kustomizationFile(dir))
		if origin, err := res.GetOrigin(); err == nil && origin != nil && origin.Repo == "" && origin.Path != "" {
			file = filepath.Join(dir, filepath.FromSlash(origin.Path))
		} else if kf := kustomizationFile(dir); kf != "" {
			file = kf
		}
		if err := res.SetOrigin(nil); err != nil {
			return nil, err
		}
		text, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		f, err := manifest.Parse(file, text)
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		sources = append(sources, &source{file: f, rendered: true, root: dir, renderer: "kustomization"})
	}
	return sources, nil
}

// originsOn reads every kustomization with buildMetadata originAnnotations
// added, so that each object says which file it came from.
type originsOn struct{ filesys.FileSystem }

func (fs originsOn) ReadFile(name string) ([]byte, error) {
	data, err := fs.FileSystem.ReadFile(name)
	if err != nil || kustomizationFile(filepath.Dir(name)) != name {
		return data, err
	}
	var k map[string]any
	if yaml.Unmarshal(data, &k) != nil || k == nil {
		return data, nil // kustomize says what is wrong with it
	}
	meta, _ := k["buildMetadata"].([]any)
	if slices.Contains(meta, any(types.OriginAnnotations)) {
		return data, nil
	}
	k["buildMetadata"] = append(meta, types.OriginAnnotations)
	out, err := yaml.Marshal(k)
	if err != nil {
		return data, nil
	}
	return out, nil
}
