package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClientConsentMetadata sets, shows, changes and clears the addresses the consent page
// shows (issue 11 item 12), and refuses anything but clean https URLs.
func TestClientConsentMetadata(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "client", "create", "--name", "Photo Printer", "--type", "public",
		"--redirect-uri", "https://photo.example/cb",
		"--logo-uri", "https://cdn.photo.example/logo.png", "--client-uri", "https://photo.example/",
		"--policy-uri", "https://photo.example/privacy", "--tos-uri", "https://photo.example/terms", "--json")
	var created struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	show := func() clientView {
		t.Helper()
		var v clientView
		if err := json.Unmarshal([]byte(c.mustRun("", "client", "show", created.ClientID, "--json")), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := show()
	if v.LogoURI != "https://cdn.photo.example/logo.png" || v.ClientURI != "https://photo.example/" ||
		v.PolicyURI != "https://photo.example/privacy" || v.TosURI != "https://photo.example/terms" {
		t.Fatalf("show after create = %+v", v)
	}
	// The human form names every field too.
	text := c.mustRun("", "client", "show", created.ClientID)
	for _, want := range []string{"logo_uri:", "https://cdn.photo.example/logo.png", "client_uri:", "policy_uri:", "tos_uri:"} {
		if !strings.Contains(text, want) {
			t.Errorf("client show lacks %q:\n%s", want, text)
		}
	}

	// update changes only the flags given; an empty value clears one.
	c.mustRun("", "client", "update", created.ClientID, "--logo-uri", "https://photo.example/logo-2.svg", "--tos-uri", "")
	v = show()
	if v.LogoURI != "https://photo.example/logo-2.svg" || v.TosURI != "" ||
		v.ClientURI != "https://photo.example/" || v.PolicyURI != "https://photo.example/privacy" {
		t.Fatalf("show after update = %+v", v)
	}
	out = c.mustRun("", "client", "update", created.ClientID, "--client-uri", "https://www.photo.example/", "--policy-uri", "https://www.photo.example/p", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ClientURI != "https://www.photo.example/" || v.PolicyURI != "https://www.photo.example/p" {
		t.Fatalf("update --json = %s (%v)", out, err)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--logo-uri", "http://photo.example/logo.png"}, "https://"},
		{[]string{"--client-uri", "javascript:alert(1)"}, "https://"},
		{[]string{"--policy-uri", "https://bank.example@evil.example/"}, "user name"},
		{[]string{"--tos-uri", "https://bücher.example/"}, "punycode"},
		{[]string{"--logo-uri", "https://photo.example/a b"}, "spaces"},
	}
	for _, tt := range bad {
		_, _, err := c.run("", append([]string{"client", "update", created.ClientID}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.args[0]) {
			t.Errorf("update %v: err = %v, want it to name the flag and mention %q", tt.args, err, tt.want)
		}
		_, _, err = c.run("", append([]string{"client", "create", "--name", "x", "--type", "public", "--redirect-uri", "https://a.example/cb"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("create %v: err = %v, want it to mention %q", tt.args, err, tt.want)
		}
	}
	// A refused update changed nothing.
	if got := show(); got.LogoURI != "https://photo.example/logo-2.svg" || got.ClientURI != "https://www.photo.example/" {
		t.Errorf("after refused updates: %+v", got)
	}
	if _, _, err := c.run("", "client", "update", created.ClientID); err == nil || !strings.Contains(err.Error(), "nothing to update") {
		t.Errorf("update without flags: err = %v", err)
	}
	if _, _, err := c.run("", "client", "update", "no-such-client", "--logo-uri", "https://a.example/l.png"); err == nil {
		t.Error("update of an unknown client succeeded")
	}
	if _, _, err := c.run("", "client", "update", "--logo-uri", "https://a.example/l.png"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("update without an id: err = %v", err)
	}
}

// TestClientCreateIdempotencyKey: a provisioning script whose output was lost runs the same
// command again with its key and gets the client it created (one client, a new secret: the
// lost one is void); the key with other flags is refused and creates nothing.
func TestClientCreateIdempotencyKey(t *testing.T) {
	c := newCLI(t)
	create := func(name string) (string, string, error) {
		return c.run("", "client", "create", "--name", name, "--type", "confidential",
			"--redirect-uri", "https://portal.example/cb", "--idempotency-key", "deploy-42", "--json")
	}
	type created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	var first, again created
	out, errOut, err := create("Portal")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	must(t, json.Unmarshal([]byte(out), &first))
	out, errOut, err = create("Portal")
	if err != nil {
		t.Fatalf("run again: %v: %s", err, errOut)
	}
	must(t, json.Unmarshal([]byte(out), &again))
	if again.ClientID != first.ClientID || again.ClientSecret == "" || again.ClientSecret == first.ClientSecret {
		t.Fatalf("run again with the key: %+v, first %+v: want the same client with a new secret", again, first)
	}
	if _, errOut, err := create("Another portal"); err == nil || !strings.Contains(errOut+err.Error(), "--idempotency-key") {
		t.Fatalf("the key with other flags: %v %s, want a refusal naming the key", err, errOut)
	}
	var list []clientView
	must(t, json.Unmarshal([]byte(c.mustRun("", "client", "list", "--json")), &list))
	if len(list) != 1 {
		t.Fatalf("%d clients, want the one the key created", len(list))
	}
}
