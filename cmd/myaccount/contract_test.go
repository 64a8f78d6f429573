package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The commands, flags and variables an issue or the README spells out are a contract that
// operators' scripts rely on. These tests hold the CLI to what is written.

// TestCommandGroupsAnswerHelp: the usage text says `Run "myaccount COMMAND -h" for a
// command's flags`; for a command with subcommands that lists the subcommands instead of
// calling -h an unknown subcommand.
func TestCommandGroupsAnswerHelp(t *testing.T) {
	c := newCLI(t)
	groups := map[string][]string{
		"client":  {"create", "update", "list", "show", "delete", "rotate-secret", "registration-token"},
		"user":    {"create", "update", "list", "show", "lock", "unlock", "delete", "sessions", "signout", "grant-role", "revoke-role", "licences"},
		"keys":    {"list", "rotate", "new-master-key"},
		"product": {"create", "list", "show", "update", "delete"},
		"licence": {"issue", "list", "show", "revoke", "extend"},
	}
	for group, subs := range groups {
		for _, h := range []string{"-h", "--help", "help"} {
			out, _, err := c.run("", group, h)
			if err != nil {
				t.Errorf("myaccount %s %s: %v, want the list of its subcommands", group, h, err)
				continue
			}
			if !strings.Contains(out, "myaccount "+group+" ") || !strings.Contains(out, "-h") {
				t.Errorf("myaccount %s %s printed %q, want its usage and how to see a subcommand's flags", group, h, out)
			}
			for _, s := range subs {
				if !strings.Contains(out, s) {
					t.Errorf("myaccount %s %s does not name %q:\n%s", group, h, s, out)
				}
			}
		}
	}
}

// TestHelpExitsZero: help asked for is not a failure, so a script's `myaccount user create -h`
// exits 0 as `myaccount help` and a group's -h do; a wrong flag still fails.
func TestHelpExitsZero(t *testing.T) {
	c := newCLI(t)
	_, stderr, err := c.run("", "user", "create", "-h")
	if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 || !strings.Contains(stderr, "-email") {
		t.Errorf("user create -h: %v (exit %d), stderr %q; want its flags and exit 0", err, exitCode(err), stderr)
	}
	if _, _, err := c.run("", "user", "create", "--no-such-flag"); err == nil || exitCode(err) != 1 {
		t.Errorf("a wrong flag: %v (exit %d), want exit 1", err, exitCode(err))
	}
}

// cliEntry is one command of the README's CLI reference or of the usage text: the command,
// its subcommands (none for serve, seed, ...) and the flags written with it.
type cliEntry struct {
	cmd   string
	subs  []string
	flags []string
}

var (
	subcommandWord = regexp.MustCompile(`\b[a-z][a-z-]*\b`)
	flagWord       = regexp.MustCompile(`--[a-z][a-z0-9-]*`)
)

// parseCLIEntry reads "myaccount CMD sub|sub ARG [--flag V]…" (without comments).
func parseCLIEntry(text string) cliEntry {
	fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(text), "myaccount "))
	e := cliEntry{cmd: fields[0]}
	var head []string
	for _, f := range fields[1:] {
		if strings.HasPrefix(f, "-") || strings.HasPrefix(f, "[") {
			break
		}
		head = append(head, f)
	}
	e.subs = subcommandWord.FindAllString(strings.Join(head, " "), -1)
	e.flags = flagWord.FindAllString(text, -1)
	return e
}

// readmeCLIReference returns the commands of the README's "CLI reference" block.
func readmeCLIReference(t *testing.T) []cliEntry {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## CLI reference\n")
	if !ok {
		t.Fatal(`README.md has no "## CLI reference" section`)
	}
	_, block, _ := strings.Cut(section, "```\n")
	block, _, _ = strings.Cut(block, "```")
	var entries []string
	for line := range strings.SplitSeq(block, "\n") {
		line, _, _ = strings.Cut(line, "#") // comments are prose
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "myaccount "):
			entries = append(entries, line)
		case len(entries) > 0: // a continuation line
			entries[len(entries)-1] += " " + line
		}
	}
	out := make([]cliEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, parseCLIEntry(e))
	}
	return out
}

// usageCLIEntries returns the commands the usage text (myaccount help) lists.
func usageCLIEntries() []cliEntry {
	var out []cliEntry
	for line := range strings.SplitSeq(usage, "\n") {
		if strings.HasPrefix(line, "  myaccount ") {
			// The usage text comments by alignment: what follows two spaces is prose.
			text := strings.TrimSpace(line)
			if i := strings.Index(text, "   "); i > 0 {
				text = text[:i]
			}
			out = append(out, parseCLIEntry(text))
		}
	}
	return out
}

func commandNames(entries []cliEntry) map[string]bool {
	names := map[string]bool{}
	for _, e := range entries {
		if len(e.subs) == 0 {
			names[e.cmd] = true
		}
		for _, s := range e.subs {
			names[e.cmd+" "+s] = true
		}
	}
	return names
}

// TestREADMEAndUsageDocumentTheSameCommands: the README's CLI reference and the usage text
// name the same commands and subcommands, every one of them exists, and every flag either
// writes next to a command is one the command takes.
func TestREADMEAndUsageDocumentTheSameCommands(t *testing.T) {
	readme, use := readmeCLIReference(t), usageCLIEntries()
	if len(readme) < 20 || len(use) < 10 {
		t.Fatalf("parsed %d README commands and %d usage lines: the parser no longer fits the text", len(readme), len(use))
	}
	inReadme, inUsage := commandNames(readme), commandNames(use)
	for name := range inReadme {
		if !inUsage[name] {
			t.Errorf("README documents `myaccount %s`, the usage text (myaccount help) does not", name)
		}
	}
	for name := range inUsage {
		if !inReadme[name] {
			t.Errorf("the usage text lists `myaccount %s`, the README's CLI reference does not", name)
		}
	}

	c := newCLI(t)
	flagsOf := map[string]string{} // command name -> its -h output
	check := func(where string, entries []cliEntry) {
		for _, e := range entries {
			names := []string{e.cmd}
			if len(e.subs) > 0 {
				names = names[:0]
				for _, s := range e.subs {
					names = append(names, e.cmd+" "+s)
				}
			}
			for _, name := range names {
				help, ok := flagsOf[name]
				if !ok {
					_, stderr, err := c.run("", append(strings.Fields(name), "-h")...)
					if !errors.Is(err, flag.ErrHelp) {
						t.Errorf("myaccount %s -h: %v, want its flags (does the command exist?)", name, err)
					}
					help, flagsOf[name] = stderr, stderr
				}
				for _, f := range e.flags {
					if !regexp.MustCompile(`(?m)^\s+-` + f[2:] + `(\s|$)`).MatchString(help) {
						t.Errorf("%s writes `myaccount %s %s`; the command has no such flag:\n%s", where, name, f, help)
					}
				}
			}
		}
	}
	check("README", readme)
	check("the usage text", use)
}

// TestEveryCommandTakesConfig: issue 2, "every command takes --config FILE" (the usage text
// says it too), and reads what it needs from that file.
func TestEveryCommandTakesConfig(t *testing.T) {
	c := newCLI(t)
	for name := range commandNames(usageCLIEntries()) {
		_, stderr, err := c.run("", append(strings.Fields(name), "-h")...)
		if !errors.Is(err, flag.ErrHelp) || !regexp.MustCompile(`(?m)^\s+-config\s`).MatchString(stderr) {
			t.Errorf("myaccount %s takes no --config:\n%s", name, stderr)
		}
	}

	// bench measures the configured issuer unless --issuer names one (here one it refuses
	// before any request: not on this host).
	cfg := filepath.Join(t.TempDir(), "myaccount.yaml")
	if err := os.WriteFile(cfg, []byte("issuer: https://id.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.run("", "bench", "--config", cfg, "--scenarios", "baseline"); err == nil ||
		!strings.Contains(err.Error(), "https://id.example.com") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("bench --config: %v, want the configured issuer refused as not loopback", err)
	}
}

// TestHealthcheckProbesTheConfiguredListener: healthcheck takes --config like every command;
// without --url it probes the port the configuration listens on.
func TestHealthcheckProbesTheConfiguredListener(t *testing.T) {
	c := newCLI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(t.TempDir(), "myaccount.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "listen: \":%d\"\n", dead), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("http://127.0.0.1:%d/readyz", dead)
	if _, _, err := c.run("", "healthcheck", "--config", cfg, "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("healthcheck --config: %v, want a failed probe of %s", err, want)
	}
}

// issueContract is every command and flag an issue spells out, with the issue that did.
// Add freely; never take one out: scripts and outside tools rely on them.
var issueContract = []struct {
	issue int
	cmd   string
	flags []string
}{
	{2, "serve", nil},
	{2, "migrate", nil},
	{2, "client create", []string{"--name", "--type", "--redirect-uri", "--post-logout-redirect-uri", "--grant-type",
		"--scope", "--first-party", "--access-token-format", "--json"}},
	{2, "client list", []string{"--json"}},
	{2, "client show", []string{"--json"}},
	{2, "client delete", []string{"--json"}},
	{2, "client rotate-secret", []string{"--json"}},
	{2, "user create", []string{"--email", "--password-stdin"}},
	{2, "user list", nil},
	{2, "user show", nil},
	{2, "user lock", nil},
	{2, "user unlock", nil},
	{2, "user delete", nil},
	{2, "keys list", nil},
	{2, "keys rotate", nil},
	{3, "user create", []string{"--country", "--region", "--timezone", "--date-format", "--locale"}},
	{3, "user update", []string{"--country", "--region", "--timezone", "--date-format", "--locale"}},
	{4, "client create", []string{"--require-mfa"}},
	{5, "keys new-master-key", nil},
	{6, "client create", []string{"--type", "--grant-type"}},
	{6, "user sessions", nil},
	{6, "user signout", nil},
	{11, "client create", []string{"--logo-uri", "--client-uri", "--policy-uri", "--tos-uri"}},
	{11, "client update", []string{"--logo-uri", "--client-uri", "--policy-uri", "--tos-uri"}},
	{12, "bench", nil},
	{12, "seed", nil},
	{13, "user grant-role", nil},
	{13, "backup", nil},
	{13, "version", nil},
	{14, "product create", []string{"--id", "--name", "--client"}},
	{14, "product list", nil},
	{14, "product show", nil},
	{14, "product update", nil},
	{14, "product delete", nil},
	{14, "licence issue", []string{"--product", "--seats", "--days", "--count", "--json"}},
	{14, "licence list", nil},
	{14, "licence show", nil},
	{14, "licence revoke", nil},
	{14, "licence extend", nil},
	{14, "user licences", nil},
	{16, "client create", []string{"--backchannel-logout-uri", "--require-par", "--jwks-uri", "--jwks-file",
		"--token-endpoint-auth-method"}},
}

// TestIssueContract: every command an issue spells out exists and takes --config and every
// flag the issue gives it.
func TestIssueContract(t *testing.T) {
	c := newCLI(t)
	for _, ic := range issueContract {
		_, help, err := c.run("", append(strings.Fields(ic.cmd), "-h")...)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("issue %d: myaccount %s -h: %v, want its flags (does the command exist?)", ic.issue, ic.cmd, err)
			continue
		}
		for _, f := range append([]string{"--config"}, ic.flags...) {
			if !regexp.MustCompile(`(?m)^\s+-` + f[2:] + `(\s|$)`).MatchString(help) {
				t.Errorf("issue %d: myaccount %s has no %s:\n%s", ic.issue, ic.cmd, f, help)
			}
		}
	}
}

// TestProductShowAndDeleteAsWritten: product show and delete take the id as create and update
// do (--id) as well as an argument, and delete prints JSON with --json, as the README writes
// `product list|show ID|delete ID [--json]`.
func TestProductShowAndDeleteAsWritten(t *testing.T) {
	c := newCLI(t)
	c.mustRun("", "product", "create", "--id", "vault", "--name", "Vault")
	c.mustRun("", "product", "create", "--id", "antivirus", "--name", "Antivirus")
	var p productView
	out := c.mustRun("", "product", "show", "--id", "vault", "--json")
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.ID != "vault" {
		t.Errorf("product show --id vault --json: %s (%v)", out, err)
	}
	var deleted struct {
		ID      string `json:"id"`
		Deleted bool   `json:"deleted"`
	}
	out = c.mustRun("", "product", "delete", "vault", "--json")
	if err := json.Unmarshal([]byte(out), &deleted); err != nil || deleted.ID != "vault" || !deleted.Deleted {
		t.Errorf("product delete vault --json: %q (%v)", out, err)
	}
	c.mustRun("", "product", "delete", "--id", "antivirus")
	if out := c.mustRun("", "product", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after deleting both, product list --json = %s", out)
	}
	if _, _, err := c.run("", "product", "show", "--id", "vault", "antivirus"); err == nil {
		t.Error("product show with --id and an argument accepted")
	}
}
