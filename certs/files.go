package certs

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteServing stores a serving pair and its CA as dir/ca.crt, dir/tls.crt and
// dir/tls.key (mode 0600), the layout of a cert-manager Secret. Each file is
// replaced atomically, so a reader sees the old or the new file, never a
// partial one; the key is written before the certificate that names it.
func WriteServing(dir string, caPEM, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create certificate directory: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CACertFile, caPEM, 0o644},
		{KeyFile, keyPEM, 0o600},
		{CertFile, certPEM, 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes a temporary file beside path and renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Removing after a successful rename fails harmlessly.
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
