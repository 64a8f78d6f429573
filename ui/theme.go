package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The operator picks one accent colour (ui.accent_color). It fills buttons and badges and
// colours links and focus rings, on light and on dark backgrounds, so one colour cannot be
// right everywhere: amber is a fine button but unreadable as link text on white, and the
// default blue is readable on white but not on the dark card. The theme keeps the operator's
// hue and saturation and moves only the lightness, as little as needed, until WCAG AA holds:
// 4.5:1 for text (links, button labels) against every background the text sits on. Every
// #rrggbb colour can be brought there (black and white are the limits), so nothing is refused.

// minTextContrast is WCAG 2.x AA for normal-size text (success criterion 1.4.3).
const minTextContrast = 4.5

// The page backgrounds of style.css: text in the accent colour sits on the card and, in the
// language bar, on the page background. Keep in step with style.css.
var (
	lightBackgrounds = []string{"#ffffff", "#f3f4f6"} // --card, --bg
	darkBackgrounds  = []string{"#111827", "#0b1120"} // --card, --bg
)

// defaultAccent is used when the configured colour is unusable (config validation refuses it
// first; this keeps ui.New safe on its own).
const defaultAccent = "#2563eb"

// theme is the accent colour worked out for both colour schemes.
type theme struct {
	Accent string // the operator's colour, unchanged: fills (buttons, badges) in light mode
	// OnAccent is the text on an Accent fill: white, or black where white fails.
	OnAccent string
	// Link is Accent darkened as needed to be readable as text on the light backgrounds.
	Link string
	// DarkAccent is Accent lightened as needed to be readable on the dark backgrounds; in
	// dark mode it is both the fill and the link colour.
	DarkAccent   string
	DarkOnAccent string
}

// deriveTheme works out the theme for an accent colour of the form #rrggbb.
func deriveTheme(accent string) (theme, error) {
	c, err := parseHex(accent)
	if err != nil {
		return theme{}, err
	}
	light, dark := parseAll(lightBackgrounds), parseAll(darkBackgrounds)
	darkAccent := reachContrast(c, dark, true)
	return theme{
		Accent:       c.hex(),
		OnAccent:     onColour(c).hex(),
		Link:         reachContrast(c, light, false).hex(),
		DarkAccent:   darkAccent.hex(),
		DarkOnAccent: onColour(darkAccent).hex(),
	}, nil
}

// CSS is theme.css: custom properties that override style.css's defaults.
func (t theme) CSS() string {
	return fmt.Sprintf(":root{--accent:%s;--on-accent:%s;--link:%s}\n"+
		"@media (prefers-color-scheme: dark){:root{--accent:%s;--on-accent:%s;--link:%s}}\n",
		t.Accent, t.OnAccent, t.Link, t.DarkAccent, t.DarkOnAccent, t.DarkAccent)
}

// adjustments describes, for the startup log, where the theme departs from the operator's
// colour; empty when it does not.
func (t theme) adjustments() []string {
	var out []string
	a, _ := parseHex(t.Accent)
	if t.Link != t.Accent {
		out = append(out, fmt.Sprintf("links on light backgrounds use %s (%s has only %.2f:1 against white)",
			t.Link, t.Accent, contrast(a, rgb{1, 1, 1})))
	}
	if t.DarkAccent != t.Accent {
		card, _ := parseHex(darkBackgrounds[0])
		out = append(out, fmt.Sprintf("dark mode uses %s (%s has only %.2f:1 against the dark card %s)",
			t.DarkAccent, t.Accent, contrast(a, card), darkBackgrounds[0]))
	}
	return out
}

// rgb is an sRGB colour with channels in [0, 1].
type rgb struct{ r, g, b float64 }

func parseHex(s string) (rgb, error) {
	if !accentRE.MatchString(s) {
		return rgb{}, fmt.Errorf("colour %q must have the form #rrggbb", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return rgb{}, fmt.Errorf("colour %q: %w", s, err)
	}
	return rgb{float64(v>>16&0xff) / 255, float64(v>>8&0xff) / 255, float64(v&0xff) / 255}, nil
}

func parseAll(hexes []string) []rgb {
	out := make([]rgb, len(hexes))
	for i, h := range hexes {
		c, err := parseHex(h)
		if err != nil {
			panic(err) // constants above
		}
		out[i] = c
	}
	return out
}

func (c rgb) hex() string {
	b := func(v float64) int { return int(math.Round(math.Max(0, math.Min(1, v)) * 255)) }
	return strings.ToLower(fmt.Sprintf("#%02x%02x%02x", b(c.r), b(c.g), b(c.b)))
}

// quantize rounds to what #rrggbb can express, so ratios are those of the colour we emit.
func (c rgb) quantize() rgb {
	q, _ := parseHex(c.hex())
	return q
}

// luminance is the WCAG 2.x relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v float64) float64 {
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is the WCAG 2.x contrast ratio, from 1 to 21.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func minContrast(c rgb, bgs []rgb) float64 {
	m := math.Inf(1)
	for _, bg := range bgs {
		m = math.Min(m, contrast(c, bg))
	}
	return m
}

// onColour is the text colour for a fill of c: white where it reaches AA (the usual look of a
// coloured button), else black, which then does (max of the two is always at least 4.58:1).
func onColour(c rgb) rgb {
	white, black := rgb{1, 1, 1}, rgb{0, 0, 0}
	if contrast(c, white) >= minTextContrast {
		return white
	}
	return black
}

// reachContrast returns c itself when it already reaches AA against every background, else
// the colour of the same hue and saturation whose HSL lightness is changed the least (up when
// lighter, down otherwise) to reach it. With H and S fixed every channel is monotonic in L, so
// a bisection finds the boundary; white and black always qualify as the far ends.
func reachContrast(c rgb, bgs []rgb, lighter bool) rgb {
	if minContrast(c, bgs) >= minTextContrast {
		return c
	}
	h, s, l := c.hsl()
	ok := func(l float64) bool { return minContrast(hslToRGB(h, s, l).quantize(), bgs) >= minTextContrast }
	lo, hi := l, 1.0 // lo fails, hi passes
	if !lighter {
		lo, hi = l, 0.0
	}
	for range 40 {
		mid := (lo + hi) / 2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	out := hslToRGB(h, s, hi).quantize()
	if !ok(hi) { // rounding at the very edge; the limits always pass
		if lighter {
			return rgb{1, 1, 1}
		}
		return rgb{0, 0, 0}
	}
	return out
}

func (c rgb) hsl() (h, s, l float64) {
	mx := math.Max(c.r, math.Max(c.g, c.b))
	mn := math.Min(c.r, math.Min(c.g, c.b))
	l = (mx + mn) / 2
	if mx == mn {
		return 0, 0, l
	}
	d := mx - mn
	if l > 0.5 {
		s = d / (2 - mx - mn)
	} else {
		s = d / (mx + mn)
	}
	switch mx {
	case c.r:
		h = (c.g - c.b) / d
		if c.g < c.b {
			h += 6
		}
	case c.g:
		h = (c.b-c.r)/d + 2
	default:
		h = (c.r-c.g)/d + 4
	}
	return h / 6, s, l
}

func hslToRGB(h, s, l float64) rgb {
	if s == 0 {
		return rgb{l, l, l}
	}
	var q float64
	if l < 0.5 {
		q = l * (1 + s)
	} else {
		q = l + s - l*s
	}
	p := 2*l - q
	hue := func(t float64) float64 {
		switch {
		case t < 0:
			t++
		case t > 1:
			t--
		}
		switch {
		case t < 1.0/6:
			return p + (q-p)*6*t
		case t < 0.5:
			return q
		case t < 2.0/3:
			return p + (q-p)*(2.0/3-t)*6
		}
		return p
	}
	return rgb{hue(h + 1.0/3), hue(h), hue(h - 1.0/3)}
}
