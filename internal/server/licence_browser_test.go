package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
)

// TestBrowserLicences: the admin issues codes with the CLI; in Chromium, in English, German and Russian, a person adds an
// activation code on the Licences page (a wrong one first: the field is marked invalid and
// the message is announced), sees the licence with the device an app bound to it, removes it
// from that device, and finds the licence on the dashboard. axe-core checks every state in
// the light and the dark scheme.
func TestBrowserLicences(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v (see testdata/axe/README.md)", err)
	}
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true, env: map[string]string{"MYACCOUNT_LICENCES_RENEWAL_URL": "https://shop.example/renew"}})
	app := e.addClient(storage.ClientNative, firstParty, opaqueTokens, func(c *storage.Client) { c.Name = "Antivirus Desktop" })
	// The admin's part with the real CLI on the server's database: the product (which gives
	// its app the licences scope) and a batch of codes, printed once.
	bin := buildMyAccount(t)
	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "MYACCOUNT_DATA_DIR="+e.cfg.DataDir, "MYACCOUNT_ISSUER="+e.issuer)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("myaccount %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	cli("product", "create", "--id", "antivirus", "--name", "Antivirus", "--client", app.ID)
	var batch struct {
		Licences []licence.Issued `json:"licences"`
	}
	if err := json.Unmarshal(cli("licence", "issue", "--product", "antivirus", "--seats", "3", "--days", "365",
		"--count", fmt.Sprint(len(a11yLangs)), "--json"), &batch); err != nil || len(batch.Licences) != len(a11yLangs) {
		t.Fatalf("licence issue --json: %+v (%v)", batch, err)
	}
	codes := batch.Licences
	w := &a11yWalk{t: t, ctx: ctx, axe: string(src), shots: screenshotDir(t)}
	for i, lang := range a11yLangs {
		w.lang = lang
		email := "licences." + lang + "@example.com"
		e.addUser(email)
		ok := t.Run(lang, func(t *testing.T) {
			w.open(t, e.issuer+"/lang?to="+lang+"&back=/login", 200)
			w.fill(t, "email", email, "password", testPassword)
			w.submit(t, "#email", 200)
			w.at(t, "/account")
			tabNavigate(t, ctx, "following the dashboard's link to the licences page",
				chromedp.Click(chromedp.Search(`//a[@href="/account/licences"]`)))
			w.at(t, "/account/licences")
			w.check(t, "licences (none yet)")

			w.fill(t, "code", licence.NewCode())
			w.submit(t, "#code", 422)
			if n := tabEval[int](t, ctx, `document.querySelectorAll("#code[aria-invalid=true]").length`); n != 1 {
				t.Fatalf("a refused code: the field is not marked invalid\n%s", tabState(ctx))
			}
			w.check(t, "licences (code refused)")

			// Typed in lower case with spaces: normalised like device codes.
			w.fill(t, "code", strings.ToLower(strings.ReplaceAll(codes[i].Code, "-", " ")))
			w.submit(t, "#code", 200)
			w.at(t, "/account/licences")
			if got := tabEval[int](t, ctx, `document.querySelectorAll("ul.licences > li").length`); got != 1 {
				t.Fatalf("after adding the code the page lists %d licences\n%s", got, tabState(ctx))
			}

			// The desktop app signs in from an installation and takes a seat.
			hctx, cancel := context.WithTimeout(context.Background(), 2*browserStep)
			defer cancel()
			e.tokens(hctx, e.browser(), app, email, oauth2.SetAuthURLParam("scope", "openid offline_access licences"),
				oauth2.SetAuthURLParam("device_id", "install-"+lang), oauth2.SetAuthURLParam("device_name", "Laptop "+lang))
			w.open(t, e.issuer+"/account/licences", 200)
			if got := tabEval[string](t, ctx, `document.querySelector("ul.licences ul.summary li").textContent`); !strings.Contains(got, "Laptop "+lang) {
				t.Fatalf("the device is not listed under the licence: %q\n%s", got, tabState(ctx))
			}
			w.check(t, "licences (one device)")
			w.submit(t, "ul.licences ul.summary form button", 200)
			w.at(t, "/account/licences")
			if n := tabEval[int](t, ctx, `document.querySelectorAll("ul.licences ul.summary li").length`); n != 0 {
				t.Fatalf("the device is still listed after removing the licence from it\n%s", tabState(ctx))
			}
			w.check(t, "licences (removed from the device)")

			w.open(t, e.issuer+"/account", 200)
			if got := tabEval[string](t, ctx, `document.querySelector('section[aria-labelledby="licences-h"]').textContent`); !strings.Contains(got, "Antivirus") {
				t.Fatalf("the dashboard's licences panel: %q", got)
			}
			w.check(t, "account dashboard with licences")

			w.open(t, e.issuer+"/logout", 200)
			w.submit(t, "form[action='/logout'] button", 200)
		})
		if !ok && len(w.failed) == 0 {
			break
		}
	}
}
