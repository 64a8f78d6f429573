package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time for releases: go build -ldflags "-X main.version=v1.2.3".
// Without it the module version from the build info is used ("(devel)" for a checkout).
var version = ""

// buildInfo is what "myaccount version" reports.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	BuildDate string `json:"build_date,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// readBuildInfo reads the VCS stamps Go embeds when building from a checkout (vcs.revision,
// vcs.time, vcs.modified), so a binary says which commit it is without a release step.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.BuildDate = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func cmdVersion(e env, args []string) error {
	fs, _ := newFlags(e, "version")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	b := readBuildInfo()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	} else if b.Modified {
		commit += " (modified)"
	}
	date := b.BuildDate
	if date == "" {
		date = "unknown"
	}
	fmt.Fprintf(e.stdout, "myaccount %s\ncommit:  %s\nbuilt:   %s\ngo:      %s %s\n", b.Version, commit, date, b.GoVersion, b.Platform)
	return nil
}
