package check

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// The file side of manifests: policies/manifest parses and edits text, this
// finds, reads, renders and writes it.

// source is one manifest text that objects are read from: a file as
// written, stdin, or a rendered template of a chart or kustomization.
type source struct {
	file *manifest.File
	// rendered is set for the output of a renderer: its lines are not the
	// source's, and --fix cannot write it back.
	rendered bool
	// root is the chart or kustomization directory a rendered source came from.
	root string
	// renderer is "chart" or "kustomization".
	renderer string
	// named is set for a file named on the command line, and stdin.
	named bool
}

// where names an object for the report: "app.yaml#2", and for a rendered
// object its template or file and the chart or kustomization.
func (s *source) where(o *manifest.Object) string {
	if s.rendered {
		return fmt.Sprintf("%s (rendered from %s %s)", o.Where(), s.renderer, s.root)
	}
	return o.Where()
}

// fileOf is the file a finding on o points at.
func (s *source) fileOf(*manifest.Object) string { return s.file.Path }

// display is where a document that is no object sits, from its error.
func (s *source) display(err error) string {
	where, _, _ := strings.Cut(err.Error(), ": "+manifest.ErrNotObject.Error())
	if s.rendered {
		where += fmt.Sprintf(" (rendered from %s %s)", s.renderer, s.root)
	}
	return where
}

// message is an input error as the report prints it.
func (s *source) message(err error) string {
	if s.rendered {
		return fmt.Sprintf("%v (rendered from %s %s)", err, s.renderer, s.root)
	}
	return err.Error()
}

// notObjectReason is why a document is no Kubernetes object.
func notObjectReason(err error) string {
	_, reason, _ := strings.Cut(err.Error(), manifest.ErrNotObject.Error()+": ")
	return reason
}

// manifestExt are the extensions of the files a directory walk reads.
var manifestExt = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// collect finds and reads every source the paths name. Files and
// directories that cannot be read, and charts and kustomizations that do not
// render, are input errors in the report; what is no Kubernetes object is
// counted there.
func (o *Options) collect(r *report.Check) ([]*source, error) {
	var sources []*source
	for _, arg := range o.Paths {
		if arg == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			sources = addFile(sources, r, "-", data, true)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil {
			r.Errors = append(r.Errors, report.Error{File: arg, Message: err.Error()})
			continue
		}
		if !info.IsDir() {
			data, err := os.ReadFile(arg)
			if err != nil {
				r.Errors = append(r.Errors, report.Error{File: arg, Message: err.Error()})
				continue
			}
			sources = addFile(sources, r, arg, data, true)
			continue
		}
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				r.Errors = append(r.Errors, report.Error{File: p, Message: err.Error()})
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if p != arg && o.excluded(arg, p, d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				if manifestExt[strings.ToLower(filepath.Ext(p))] {
					data, err := os.ReadFile(p)
					if err != nil {
						r.Errors = append(r.Errors, report.Error{File: p, Message: err.Error()})
						return nil
					}
					sources = addFile(sources, r, p, data, false)
				}
				return nil
			}
			if p != arg && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .git, .github: tooling, not manifests
			}
			if exists(filepath.Join(p, "Chart.yaml")) {
				rendered, warnings, err := o.renderChart(p)
				r.Warnings = append(r.Warnings, warnings...)
				if err != nil {
					r.Errors = append(r.Errors, report.Error{File: p, Message: p + ": " + err.Error()})
				}
				sources = append(sources, rendered...)
				return filepath.SkipDir
			}
			if k := kustomizationFile(p); k != "" {
				rendered, err := renderKustomization(p)
				if err != nil {
					r.Errors = append(r.Errors, report.Error{File: k, Message: err.Error()})
				}
				sources = append(sources, rendered...)
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return sources, nil
}

// addFile parses one file. named is set for a file named on the command
// line or stdin: one that is not YAML is an error. A file found by walking a
// directory that is not YAML is skipped as no Kubernetes object, unless it
// reads like one (apiVersion and kind at the start of lines).
func addFile(sources []*source, r *report.Check, path string, data []byte, named bool) []*source {
	f, err := manifest.Parse(path, data)
	if err == nil {
		return append(sources, &source{file: f, named: named})
	}
	badInput(r, path, data, named, fmt.Errorf("%s: %w", path, err))
	return sources
}

// badInput reports text that does not read as manifests: an error, but for
// a file found by walking a directory that is a Go template or reads like
// no Kubernetes object, which is skipped and counted.
func badInput(r *report.Check, path string, data []byte, named bool, err error) {
	template := bytes.Contains(data, []byte("{{"))
	switch {
	case template && named:
		e := inputError(path, err)
		e.Message += ": it holds {{ }}, a Go template; render it and check the output (helm template DIR | gracekeeper check -)"
		r.Errors = append(r.Errors, e)
	case template:
		r.NotObjects = append(r.NotObjects, report.NotObject{Source: path, Reason: "a Go template outside a chart"})
	case named || looksLikeObject(data):
		r.Errors = append(r.Errors, inputError(path, err))
	default:
		r.NotObjects = append(r.NotObjects, report.NotObject{Source: path, Reason: "not valid YAML, and no apiVersion and kind"})
	}
}

var apiVersionLine, kindLine = regexp.MustCompile(`(?m)^apiVersion:`), regexp.MustCompile(`(?m)^kind:`)

func looksLikeObject(data []byte) bool {
	return apiVersionLine.Match(data) && kindLine.Match(data)
}

// excluded matches a path against --exclude: a pattern without "/" matches
// a file or directory name anywhere; one with "/" matches the path as
// walked (from the named directory) or relative to it.
func (o *Options) excluded(root, path, name string) bool {
	rel, _ := filepath.Rel(root, path)
	for _, pattern := range o.Exclude {
		pattern = strings.TrimSuffix(filepath.ToSlash(pattern), "/")
		if !strings.Contains(pattern, "/") {
			if ok, _ := doublestar.Match(pattern, name); ok {
				return true
			}
			continue
		}
		for _, candidate := range []string{filepath.ToSlash(filepath.Clean(path)), filepath.ToSlash(rel)} {
			if ok, _ := doublestar.Match(strings.TrimPrefix(pattern, "./"), candidate); ok {
				return true
			}
		}
	}
	return false
}

func validGlob(pattern string) bool { return doublestar.ValidatePattern(filepath.ToSlash(pattern)) }

func exists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

// kustomizationFile is the kustomization file in dir, by the names
// kustomize reads, or "".
func kustomizationFile(dir string) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if p := filepath.Join(dir, name); exists(p) {
			return p
		}
	}
	return ""
}

// writeManifest writes a fixed file back in place (through a symbolic link,
// to the file it names), keeping its permissions. The new text goes to a
// temporary file beside it that then replaces it, so a failed write (a full
// disk) leaves the manifest as it was; in a directory that is not writable
// the file is written in place. Tests replace it.
var writeManifest = func(f *manifest.File) error {
	path, err := filepath.EvalSymlinks(f.Path)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil { // a directory that is not writable: the file may still be
		return os.WriteFile(path, f.Bytes(), info.Mode().Perm())
	}
	_, err = tmp.Write(f.Bytes())
	if err == nil {
		err = tmp.Chmod(info.Mode().Perm())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}
