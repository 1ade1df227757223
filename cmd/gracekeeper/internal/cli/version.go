package cli

import (
	"runtime/debug"
	"sync"
)

// stamped is the version given at build time (-ldflags "-X main.version=..."),
// handed over by main.
var stamped string

// SetVersion records the version stamped into the binary at build time; ""
// and "dev" leave Version to the build information.
func SetVersion(v string) {
	if v != "dev" {
		stamped = v
	}
}

// Version is the version this binary reports: the stamped one; else the
// module version "go install ...@v1.2.3" records; else, for a build from a
// checkout, "devel+" the commit (with "-dirty" for uncommitted changes), as
// the go command records it; else "dev".
func Version() string {
	if stamped != "" {
		return stamped
	}
	return buildVersion()
}

var buildVersion = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return versionOf(info)
})

func versionOf(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "dev"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		revision += "-dirty"
	}
	return "devel+" + revision
}
