// Package buildinfo tells which build of ottr is running: the module
// version go install stamped and the VCS revision go build recorded.
package buildinfo

import "runtime/debug"

// Get returns the version ("(devel)" for a build from a checkout) and the
// revision ("unknown" when the build recorded none).
func Get() (version, revision string) {
	version, revision = "(devel)", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision
	}
	if v := info.Main.Version; v != "" {
		version = v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			revision = s.Value
		}
	}
	return version, revision
}
