package main

import (
	"strings"
	"testing"
)

// TestUserCreateRefusedFlagsCreateNothing: a create refused for any of its flags leaves no
// account behind (it used to create the user, then fail on the profile).
func TestUserCreateRefusedFlagsCreateNothing(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown region", []string{"--country", "DE", "--region", "ZZ"}},
		{"unknown country", []string{"--country", "XX"}},
		{"region without country", []string{"--region", "BY"}},
		{"bad zone", []string{"--country", "DE", "--region", "BY", "--timezone", "Mars/Olympus"}},
		{"bad locale", []string{"--locale", "not a tag!"}},
		{"bad email", []string{"--email", "ad\u200ba@example.com"}},
	} {
		name, args := tc.name, tc.args
		email := "ada@example.com"
		if args[0] == "--email" {
			email, args = args[1], nil
		}
		_, _, err := c.run("a very long password\n", append([]string{"user", "create", "--email", email, "--password-stdin"}, args...)...)
		if err == nil {
			t.Errorf("%s: create accepted", name)
		}
		if list := c.mustRun("", "user", "list"); strings.Contains(list, "example.com") {
			t.Fatalf("%s: refused create left an account: %s", name, list)
		}
	}
	// The same flags, valid, create the account with its profile.
	out := c.mustRun("a very long password\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--country", "DE", "--region", "BY")
	if !strings.Contains(out, "created") {
		t.Errorf("valid create: %s", out)
	}
}
