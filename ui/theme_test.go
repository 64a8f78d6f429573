package ui

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/ui/web"
)

func ratio(t *testing.T, a, b string) float64 {
	t.Helper()
	ca, err := parseHex(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := parseHex(b)
	if err != nil {
		t.Fatal(err)
	}
	return contrast(ca, cb)
}

func TestThemeContrastMaths(t *testing.T) {
	// Reference values (WebAIM contrast checker).
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#2563eb", "#ffffff", 5.17},
		{"#f59e0b", "#ffffff", 2.15},
		{"#2563eb", "#111827", 3.43}, // the dark-mode link the issue measured
		{"#777777", "#ffffff", 4.48},
	} {
		if got := ratio(t, c.a, c.b); got < c.want-0.01 || got > c.want+0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
	for _, s := range []string{"#2563eb", "#f59e0b", "#808080", "#00ff00", "#123456"} {
		c, _ := parseHex(s)
		h, sat, l := c.hsl()
		if got := hslToRGB(h, sat, l).hex(); got != s {
			t.Errorf("HSL round trip of %s gave %s", s, got)
		}
	}
}

// checkTheme fails unless every pairing the stylesheet makes with the accent reaches AA.
func checkTheme(t *testing.T, accent string, th theme) {
	t.Helper()
	for _, bg := range lightBackgrounds {
		if r := ratio(t, th.Link, bg); r < minTextContrast {
			t.Errorf("%s: light link %s on %s is %.2f:1", accent, th.Link, bg, r)
		}
	}
	for _, bg := range darkBackgrounds {
		if r := ratio(t, th.DarkAccent, bg); r < minTextContrast {
			t.Errorf("%s: dark accent %s on %s is %.2f:1", accent, th.DarkAccent, bg, r)
		}
	}
	if r := ratio(t, th.OnAccent, th.Accent); r < minTextContrast {
		t.Errorf("%s: button text %s on %s is %.2f:1", accent, th.OnAccent, th.Accent, r)
	}
	if r := ratio(t, th.DarkOnAccent, th.DarkAccent); r < minTextContrast {
		t.Errorf("%s: dark button text %s on %s is %.2f:1", accent, th.DarkOnAccent, th.DarkAccent, r)
	}
}

func TestThemeDerivesReadableColours(t *testing.T) {
	for _, c := range []struct {
		accent               string
		link, dark, onAccent string
	}{
		// The default blue passes on white; dark mode lightens it.
		{accent: "#2563eb", link: "#2563eb", onAccent: "#ffffff"},
		// Amber: black text on the button, darker links, unchanged in dark mode.
		{accent: "#f59e0b", dark: "#f59e0b", onAccent: "#000000"},
	} {
		th, err := deriveTheme(c.accent)
		if err != nil {
			t.Fatal(err)
		}
		checkTheme(t, c.accent, th)
		if c.link != "" && th.Link != c.link {
			t.Errorf("%s: link %s, want %s (unchanged)", c.accent, th.Link, c.link)
		}
		if c.dark != "" && th.DarkAccent != c.dark {
			t.Errorf("%s: dark accent %s, want %s (unchanged)", c.accent, th.DarkAccent, c.dark)
		}
		if th.OnAccent != c.onAccent {
			t.Errorf("%s: text on the accent %s, want %s", c.accent, th.OnAccent, c.onAccent)
		}
		t.Logf("%s: on-accent %s (%.2f:1); link %s (%.2f:1 on white, was %.2f:1); dark %s (%.2f:1 on %s, was %.2f:1), dark on-accent %s (%.2f:1); adjustments %q",
			c.accent, th.OnAccent, ratio(t, th.OnAccent, th.Accent),
			th.Link, ratio(t, th.Link, "#ffffff"), ratio(t, c.accent, "#ffffff"),
			th.DarkAccent, ratio(t, th.DarkAccent, darkBackgrounds[0]), darkBackgrounds[0], ratio(t, c.accent, darkBackgrounds[0]),
			th.DarkOnAccent, ratio(t, th.DarkOnAccent, th.DarkAccent), th.adjustments())
	}

	// Any colour at all: the derivation always ends at AA, and moves lightness only as much
	// as needed (a colour that passes is kept).
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		accent := fmt.Sprintf("#%06x", rnd.IntN(1<<24))
		th, err := deriveTheme(accent)
		if err != nil {
			t.Fatal(err)
		}
		checkTheme(t, accent, th)
		if ratio(t, accent, lightBackgrounds[1]) >= minTextContrast && ratio(t, accent, lightBackgrounds[0]) >= minTextContrast && th.Link != accent {
			t.Errorf("%s passes on light backgrounds but the link became %s", accent, th.Link)
		}
	}

	for _, bad := range []string{"", "blue", "#abc", "#2563eb;}"} {
		if _, err := deriveTheme(bad); err == nil {
			t.Errorf("deriveTheme(%q) accepted it", bad)
		}
	}
}

// The stylesheet's own colours: its defaults for the accent are the derived default theme
// (so a page reads right even before theme.css arrives), its backgrounds are those the
// derivation checks against, and its text colours reach AA on them in both schemes.
func TestThemeStylesheetColours(t *testing.T) {
	css, err := web.FS.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile(`(?s):root\s*\{([^}]*)\}`).FindAllStringSubmatch(string(css), -1)
	if len(blocks) != 2 {
		t.Fatalf("style.css has %d :root blocks, want 2 (light, then dark)", len(blocks))
	}
	vars := func(block string) map[string]string {
		m := map[string]string{}
		for _, d := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(block, -1) {
			m[d[1]] = strings.ToLower(d[2])
		}
		return m
	}
	light := vars(blocks[0][1])
	dark := vars(blocks[1][1])
	for k, v := range light {
		if _, ok := dark[k]; !ok {
			dark[k] = v
		}
	}
	th, err := deriveTheme(defaultAccent)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ mode, key, got, want string }{
		{"light", "accent", light["accent"], th.Accent},
		{"light", "on-accent", light["on-accent"], th.OnAccent},
		{"light", "link", light["link"], th.Link},
		{"dark", "accent", dark["accent"], th.DarkAccent},
		{"dark", "on-accent", dark["on-accent"], th.DarkOnAccent},
		{"dark", "link", dark["link"], th.DarkAccent},
		{"light", "card", light["card"], lightBackgrounds[0]},
		{"light", "bg", light["bg"], lightBackgrounds[1]},
		{"dark", "card", dark["card"], darkBackgrounds[0]},
		{"dark", "bg", dark["bg"], darkBackgrounds[1]},
	} {
		if c.got != c.want {
			t.Errorf("style.css %s --%s is %q, want %s", c.mode, c.key, c.got, c.want)
		}
	}
	for mode, v := range map[string]map[string]string{"light": light, "dark": dark} {
		for _, fg := range []string{"fg", "muted", "danger", "link"} {
			for _, bg := range []string{"card", "bg"} {
				if r := ratio(t, v[fg], v[bg]); r < minTextContrast {
					t.Errorf("%s mode: --%s %s on --%s %s is %.2f:1, below AA", mode, fg, v[fg], bg, v[bg], r)
				}
			}
		}
		if r := ratio(t, v["on-danger"], v["danger"]); r < minTextContrast {
			t.Errorf("%s mode: --on-danger on --danger is %.2f:1, below AA", mode, r)
		}
	}
}
