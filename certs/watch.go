package certs

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDir calls reload whenever one of the named files in dir (or the
// kubelet's ..data symlink) changes, settled for settleDelay, and every
// resync interval in case an event is missed, until ctx is done. If dir
// cannot be watched (inotify limits, say) it logs a warning and relies on the
// resync alone.
func watchDir(ctx context.Context, dir string, names []string, resync time.Duration, logger *slog.Logger, reload func()) {
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if watcher, err := newWatcher(dir); err != nil {
		logger.Warn("cannot watch certificate directory, reloading on resync only",
			"dir", dir, "resync", resync, "err", err)
	} else {
		defer watcher.Close()
		events, watchErrs = watcher.Events, watcher.Errors
	}
	// Catch a change made before the watch started.
	reload()

	ticker := time.NewTicker(resync)
	defer ticker.Stop()
	var settled <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case event, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if base := filepath.Base(event.Name); settled == nil && (base == kubeletDataLink || slices.Contains(names, base)) {
				settled = time.After(settleDelay)
			}
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			logger.Warn("certificate directory watch error", "dir", dir, "err", err)
		case <-settled:
			settled = nil
			reload()
		case <-ticker.C:
			reload()
		}
	}
}

func newWatcher(dir string) (*fsnotify.Watcher, error) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := watcher.Add(dir); err != nil {
		watcher.Close()
		return nil, err
	}
	return watcher, nil
}
