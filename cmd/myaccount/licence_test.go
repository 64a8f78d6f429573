package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// TestProductAndLicenceCommands: a product linked to a client, a batch of codes issued once
// (only hashes stored), a code redeemed by a person, and the admin's views and actions.
func TestProductAndLicenceCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	var client struct {
		ClientID string `json:"client_id"`
	}
	out := c.mustRun("", "client", "create", "--name", "Antivirus desktop", "--type", "native",
		"--redirect-uri", "http://127.0.0.1/callback", "--json")
	if err := json.Unmarshal([]byte(out), &client); err != nil || client.ClientID == "" {
		t.Fatalf("client create: %s (%v)", out, err)
	}
	c.mustRun("a very long password\n", "user", "create", "--email", "ada@example.com", "--password-stdin")

	out = c.mustRun("", "product", "create", "--id", "antivirus", "--name", "Antivirus", "--client", client.ClientID, "--json")
	var p productView
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.ID != "antivirus" || len(p.Clients) != 1 || p.Clients[0] != client.ClientID {
		t.Fatalf("product create: %s (%v)", out, err)
	}
	if _, _, err := c.run("", "product", "create", "--id", "vault", "--name", "Vault", "--client", client.ClientID); err == nil {
		t.Fatal("a client became two products'")
	}
	if _, _, err := c.run("", "product", "create", "--id", "Bad Id", "--name", "X"); err == nil {
		t.Fatal("an id with spaces was accepted")
	}
	c.mustRun("", "product", "update", "--id", "antivirus", "--name", "Antivirus Pro")
	var shown struct {
		Scopes []string `json:"scopes"`
	}
	if out := c.mustRun("", "client", "show", client.ClientID, "--json"); json.Unmarshal([]byte(out), &shown) != nil || !slices.Contains(shown.Scopes, "licences") {
		t.Fatalf("the product's client was not given the licences scope: %s", out)
	}
	if out := c.mustRun("", "product", "list"); !strings.Contains(out, "Antivirus Pro") || !strings.Contains(out, client.ClientID) {
		t.Fatalf("product list:\n%s", out)
	}

	out = c.mustRun("", "licence", "issue", "--product", "antivirus", "--seats", "3", "--days", "365", "--count", "100", "--json")
	var batch struct {
		Batch    string           `json:"batch"`
		Licences []licence.Issued `json:"licences"`
	}
	if err := json.Unmarshal([]byte(out), &batch); err != nil || len(batch.Licences) != 100 || batch.Batch == "" {
		t.Fatalf("licence issue --json: %d licences (%v)", len(batch.Licences), err)
	}
	seen := map[string]bool{}
	for _, l := range batch.Licences {
		if _, ok := licence.Normalize(l.Code); !ok || seen[l.Code] {
			t.Fatalf("bad or repeated code %q", l.Code)
		}
		seen[l.Code] = true
	}
	if _, _, err := c.run("", "licence", "issue", "--product", "nope", "--count", "1"); err == nil {
		t.Fatal("issued for an unknown product")
	}
	if _, _, err := c.run("", "licence", "issue", "--product", "antivirus", "--seats", "0"); err == nil {
		t.Fatal("issued with 0 seats")
	}
	if _, _, err := c.run("", "product", "delete", "antivirus"); err == nil {
		t.Fatal("deleted a product with licences")
	}

	// The database holds no code, only hashes.
	st, err := sqlite.Open(t.Context(), filepath.Join(c.dir, "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ls, err := st.ListLicences(t.Context(), storage.LicenceQuery{Batch: batch.Batch})
	if err != nil || len(ls) != 100 {
		t.Fatalf("stored batch: %d (%v)", len(ls), err)
	}
	for _, l := range ls {
		if strings.Contains(l.CodeHash, "-") || seen[l.CodeHash] {
			t.Fatalf("a code is stored in the clear: %q", l.CodeHash)
		}
	}
	u, err := st.GetUserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	svc := licenceService(st)
	first := batch.Licences[0]
	if _, err := svc.Redeem(t.Context(), u.ID, first.Code, licence.Meta{}); err != nil {
		t.Fatal(err)
	}

	out = c.mustRun("", "user", "licences", "ada@example.com", "--json")
	var mine []licenceView
	if err := json.Unmarshal([]byte(out), &mine); err != nil || len(mine) != 1 || mine[0].ID != first.ID ||
		mine[0].Status != "active" || mine[0].Seats != 3 || mine[0].ExpiresAt == "" || mine[0].Owner != "ada@example.com" {
		t.Fatalf("user licences: %s (%v)", out, err)
	}
	if out := c.mustRun("", "licence", "list", "--batch", batch.Batch); strings.Count(out, "unredeemed") != 99 {
		t.Fatalf("licence list: %d unredeemed", strings.Count(out, "unredeemed"))
	}
	out = c.mustRun("", "licence", "extend", first.ID, "--days", "30", "--json")
	var ext licenceView
	if err := json.Unmarshal([]byte(out), &ext); err != nil || ext.ExpiresAt <= mine[0].ExpiresAt {
		t.Fatalf("extend: %s -> %s (%v)", mine[0].ExpiresAt, ext.ExpiresAt, err)
	}
	if out := c.mustRun("", "licence", "revoke", first.ID, "--reason", "refund"); !regexp.MustCompile(`(?m)^status:\s+revoked$`).MatchString(out) {
		t.Fatalf("revoke:\n%s", out)
	}
	if out := c.mustRun("", "licence", "show", first.ID); !strings.Contains(out, "revoked_at:") {
		t.Fatalf("show after revoke:\n%s", out)
	}
}
