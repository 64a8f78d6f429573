package main

import (
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
