package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/storage"
)

// Places and dates in the person's language, in a real browser: a German and a Russian
// person each see their dashboard with the date's month written in their language and
// their zone as "(UTC+hh:mm) City", and the profile page with region names and zone labels
// in their language (Russian regions in Cyrillic, not "Primorskij kraj") and the date
// formats labelled with their pattern.
func TestBrowserLocalisedPlacesAndDates(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	g, err := geo.New()
	if err != nil {
		t.Fatal(err)
	}
	people := []struct {
		email, lang, country, region, zone string
		yourAccount, pattern               string
	}{
		{"zurich@example.com", "de", "CH", "VD", "Europe/Zurich", "Ihr Konto", "(TT.MM.JJJJ)"},
		{"vladivostok@example.com", "ru", "RU", "PRI", "Asia/Vladivostok", "Ваш аккаунт", "(ДД.ММ.ГГГГ)"},
	}
	for _, p := range people {
		u := e.addUser(p.email)
		if _, err := e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error {
			x.Locale, x.Country, x.Region, x.ZoneInfo, x.DateFormat = p.lang, p.country, p.region, p.zone, "long"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		tabDo(t, ctx, "forgetting the previous person", func(c context.Context, _ *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Call(c, network.ClearBrowserCookies, cdp.Empty{})
			return chromedp.Void{}, err
		})
		tabNavigate(t, ctx, "opening /login", chromedp.Navigate(e.issuer+"/login"))
		tabExpect(t, ctx, "/login", "Sign in")
		tabDo(t, ctx, "filling the sign-in form",
			chromedp.SendKeys(chromedp.ID("email"), p.email),
			chromedp.SendKeys(chromedp.ID("password"), testPassword),
		)
		tabClick(t, ctx, "Sign in")

		// The dashboard: today in the long format with the month in the person's language,
		// the region and the zone named in it too.
		now := time.Now()
		today := geo.FormatDateIn(now, "long", p.zone, p.lang)
		month := geo.MonthName(now.In(mustZone(t, p.zone)).Month(), p.lang)
		region := g.RegionName(p.country, p.region, p.lang)
		zoneLabel := g.ZoneLabel(p.zone, p.lang, now)
		tabExpect(t, ctx, "/account", p.yourAccount, today, month, region, zoneLabel)
		tabScreenshot(t, ctx, shots, p.lang+"-01-dashboard")
		con.check(t, ctx, p.lang+" dashboard")

		tabNavigate(t, ctx, "opening /profile", chromedp.Navigate(e.issuer+"/profile"))
		tabExpect(t, ctx, "/profile", p.pattern, today)
		sel := func(id string) string {
			return tabEval[string](t, ctx, `(function(){ var s = document.getElementById("`+id+`"); return s.options[s.selectedIndex].text; })()`)
		}
		if got := sel("region"); got != region {
			t.Errorf("%s profile: the region shows %q, want %q", p.lang, got, region)
		}
		if got := sel("zoneinfo"); got != zoneLabel {
			t.Errorf("%s profile: the zone shows %q, want %q", p.lang, got, zoneLabel)
		}
		// Every region and zone option is in the page's language: no ISO transliteration
		// among Russian regions, no raw IANA id among the zones.
		regions := tabEval[[]string](t, ctx, `Array.from(document.querySelectorAll("#region option")).slice(1).map(o => o.text)`)
		zones := tabEval[[]string](t, ctx, `Array.from(document.querySelectorAll("#zoneinfo option")).map(o => o.text)`)
		if len(regions) == 0 || len(zones) < 300 {
			t.Fatalf("%s profile: %d regions, %d zones", p.lang, len(regions), len(zones))
		}
		for _, r := range regions {
			if p.lang == "ru" && strings.ContainsAny(r, "abcdefghijklmnopqrstuvwxyz") {
				t.Errorf("ru profile: region %q is not in Russian", r)
			}
		}
		for i, z := range zones {
			if !strings.HasPrefix(z, "(UTC") || strings.Contains(z, "/") {
				t.Errorf("%s profile: zone option %q is not a label", p.lang, z)
			}
			if i > 0 && labelOffset(z) < labelOffset(zones[i-1]) {
				t.Errorf("%s profile: zones not in offset order: %q after %q", p.lang, z, zones[i-1])
			}
		}
		if p.lang == "ru" && !strings.Contains(strings.Join(regions, "|"), "Приморский край") {
			t.Errorf("ru profile: no Приморский край among %q", regions)
		}
		tabScreenshot(t, ctx, shots, p.lang+"-02-profile")
		con.check(t, ctx, p.lang+" profile")
	}
}

// labelOffset is the offset in minutes of a zone label "(UTC+05:30) …"; 0 for "(UTC) …".
func labelOffset(label string) int {
	var sign byte
	var h, m int
	if _, err := fmt.Sscanf(label, "(UTC%c%d:%d)", &sign, &h, &m); err != nil {
		return 0
	}
	if sign == '-' {
		return -(h*60 + m)
	}
	return h*60 + m
}

func mustZone(t *testing.T, tz string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
