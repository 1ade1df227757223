package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// The file side of manifests: policies/manifest parses and edits text, this
// reads and writes it.

// manifestPaths expands files and directories (recursively: *.yaml, *.yml,
// *.json) in a stable order; "-" (stdin) stays as it is.
func manifestPaths(args []string) ([]string, error) {
	var paths []string
	for _, arg := range args {
		if arg == "-" {
			paths = append(paths, arg)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			paths = append(paths, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					found = append(found, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(found)
		paths = append(paths, found...)
	}
	return paths, nil
}

// readManifest reads and parses one source: a file, or "-" for stdin.
func readManifest(path string, stdin io.Reader) (*manifest.File, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return manifest.Parse(path, data)
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
