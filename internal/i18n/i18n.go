// Package i18n translates the UI into German and Russian, English being the source.
//
// Catalogs are gettext-style: catalog/<lang>.json maps the English text, exactly as the
// templates and handlers write it, to the translation. A template therefore reads
// naturally ({{T "Sign in"}}) and a message nobody translated yet still shows, in
// English, instead of a key like "login.title". Format arguments (%s, %d) are applied
// after the lookup, so the English text with its verbs is the key.
//
// A translation is either a string or, when the message counts something, an object of
// CLDR plural forms selected by the first %d argument:
//
//	"Use at least %d characters.": {"one": "… %d символа.", "other": "… %d символов."}
//
// T returns plain text, never template.HTML: html/template escapes it together with any
// argument, such as an application's self-chosen name.
//
// Extract and the i18ntest package let the UI's tests check that every message in use is
// translated and that the catalogs hold nothing stale.
package i18n

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

//go:embed catalog/*.json
var catalogFS embed.FS

// Language is a UI language for the language switcher: Tag is what Lang returns and T
// takes, Name is the language's name in itself, so people find theirs whatever language
// the page is in.
type Language struct {
	Tag  string
	Name string
}

// languages are the supported languages, English (the source, needing no catalog) first
// because the matcher falls back to the first.
var languages = [...]Language{
	{Tag: "en", Name: "English"},
	{Tag: "de", Name: "Deutsch"},
	{Tag: "ru", Name: "Русский"},
}

// source is the language the messages are written in.
const source = "en"

// maxPref bounds a preference string: a real Accept-Language header is far shorter, and
// parsing attacker-sized input has been a DoS vector in the past (CVE-2022-32149).
const maxPref = 1024

// Bundle holds the parsed catalogs. It is immutable after New, but for a bounded memo of
// the languages preference strings matched, and safe for concurrent use.
type Bundle struct {
	matcher  language.Matcher
	tags     []language.Tag
	catalogs map[string]map[string]entry // lang → English text → translation
	// matched maps a preference string Lang was given to its match ("" for none), at most
	// maxMatched of them (nMatched counts them).
	matched  sync.Map
	nMatched atomic.Int64
}

// entry is one translation: text, or plural forms with the argument that selects them.
type entry struct {
	text     string
	forms    map[plural.Form]string
	pluralAt int // 0-based index of the argument counting things, when forms != nil
}

// N marks msg for extraction without translating it: for messages kept in tables or
// passed through helpers and translated later with a variable (T(lang, m.text)), which
// Extract could not otherwise see. It returns msg unchanged.
func N(msg string) string { return msg }

// New loads and validates the embedded catalogs: every supported language but English
// has one, keys and translations are non-empty, and each translation takes the same
// format arguments as its English text, so a translation can never print "%!s(MISSING)".
func New() (*Bundle, error) {
	return load(catalogFS)
}

func load(fsys fs.FS) (*Bundle, error) {
	b := &Bundle{catalogs: map[string]map[string]entry{}}
	for _, l := range languages {
		b.tags = append(b.tags, language.Make(l.Tag))
	}
	b.matcher = language.NewMatcher(b.tags)
	files, err := fs.Glob(fsys, "catalog/*.json")
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	for _, f := range files {
		lang := strings.TrimSuffix(path.Base(f), ".json")
		if lang == source || !supported(lang) {
			return nil, fmt.Errorf("i18n: %s: not a supported target language", f)
		}
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		cat, err := parseCatalog(lang, data)
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", f, err)
		}
		b.catalogs[lang] = cat
	}
	for _, l := range languages {
		if _, ok := b.catalogs[l.Tag]; !ok && l.Tag != source {
			return nil, fmt.Errorf("i18n: no catalog for %s", l.Tag)
		}
	}
	return b, nil
}

func supported(lang string) bool {
	for _, l := range languages {
		if l.Tag == lang {
			return true
		}
	}
	return false
}

// pluralForms are the CLDR plural categories a catalog may use.
var pluralForms = map[string]plural.Form{
	"zero": plural.Zero, "one": plural.One, "two": plural.Two,
	"few": plural.Few, "many": plural.Many, "other": plural.Other,
}

func parseCatalog(lang string, data []byte) (map[string]entry, error) {
	raw, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	cat := make(map[string]entry, len(raw))
	for _, kv := range raw {
		msg := kv.key
		if msg == "" || msg != strings.TrimSpace(msg) || !utf8.ValidString(msg) {
			return nil, fmt.Errorf("key %q: empty, padded with spaces or not UTF-8", msg)
		}
		want, err := verbs(msg)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", msg, err)
		}
		var e entry
		var texts map[string]string
		if err := json.Unmarshal(kv.value, &e.text); err != nil {
			if err := json.Unmarshal(kv.value, &texts); err != nil {
				return nil, fmt.Errorf("%q: translation is neither a string nor an object of plural forms", msg)
			}
		}
		if texts == nil {
			texts = map[string]string{"": e.text}
		} else {
			e.pluralAt = -1
			for i, v := range want {
				if v == 'd' {
					e.pluralAt = i
					break
				}
			}
			if e.pluralAt < 0 {
				return nil, fmt.Errorf("%q: plural forms need a %%d argument to select by", msg)
			}
			if _, ok := texts["other"]; !ok {
				return nil, fmt.Errorf("%q: plural forms lack \"other\"", msg)
			}
			e.forms = map[plural.Form]string{}
		}
		for form, text := range texts {
			if strings.TrimSpace(text) == "" || !utf8.ValidString(text) {
				return nil, fmt.Errorf("%q: empty or invalid translation", msg)
			}
			got, err := verbs(text)
			if err != nil {
				return nil, fmt.Errorf("%q: translation %q: %w", msg, text, err)
			}
			if !slices.Equal(got, want) {
				return nil, fmt.Errorf("%q: translation %q takes arguments %q, the English text %q", msg, text, got, want)
			}
			if e.forms != nil {
				f, ok := pluralForms[form]
				if !ok {
					return nil, fmt.Errorf("%q: unknown plural form %q", msg, form)
				}
				e.forms[f] = text
			}
		}
		cat[msg] = e
	}
	return cat, nil
}

type keyValue struct {
	key   string
	value json.RawMessage
}

// decodeObject reads a JSON object keeping every member, so a key written twice (an easy
// slip in a long hand-edited file, where encoding/json would silently keep the last) is
// reported instead.
func decodeObject(data []byte) ([]keyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	var out []keyValue
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("bad JSON: %w", err)
		}
		key := t.(string) // inside an object the decoder only yields string keys here
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q: bad JSON: %w", key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		out = append(out, keyValue{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	return out, nil
}

// verbs lists the fmt verb each argument is consumed by (index i for argument i+1),
// following fmt's explicit indexes ("%[2]s"), so a translation may reorder arguments.
// A width or precision taken from an argument ("%*d") is refused: no UI text needs it,
// and supporting it would complicate the comparison for nothing.
func verbs(s string) ([]rune, error) {
	var out []rune
	next := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		i++
		for i < len(s) && strings.IndexByte("+-# 0", s[i]) >= 0 {
			i++
		}
		arg := func() error {
			if i < len(s) && s[i] == '[' {
				end := strings.IndexByte(s[i:], ']')
				if end < 0 {
					return fmt.Errorf("bad argument index in %q", s)
				}
				n, err := strconv.Atoi(s[i+1 : i+end])
				if err != nil || n < 1 || n > 99 {
					return fmt.Errorf("bad argument index in %q", s)
				}
				next = n - 1
				i += end + 1
			}
			return nil
		}
		if err := arg(); err != nil {
			return nil, err
		}
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if err := arg(); err != nil {
			return nil, err
		}
		if i >= len(s) {
			return nil, fmt.Errorf("%q ends inside a verb", s)
		}
		v, size := utf8.DecodeRuneInString(s[i:])
		i += size - 1
		switch {
		case v == '%':
			continue
		case v == '*':
			return nil, fmt.Errorf("%q: %%* is not supported", s)
		case !(v >= 'a' && v <= 'z' || v >= 'A' && v <= 'Z'):
			return nil, fmt.Errorf("%q: bad verb %q", s, v)
		}
		for len(out) <= next {
			out = append(out, 0)
		}
		if out[next] != 0 && out[next] != v {
			return nil, fmt.Errorf("%q uses argument %d as %%%c and %%%c", s, next+1, out[next], v)
		}
		out[next] = v
		next++
	}
	for i, v := range out {
		if v == 0 {
			return nil, fmt.Errorf("%q never uses argument %d", s, i+1)
		}
	}
	return out, nil
}

// Lang picks the UI language from preferences given best first: typically an explicit
// choice (the language cookie, the account's locale) and then the raw Accept-Language
// header. Each may be a single tag ("de", "de_DE", "ru-RU") or a whole header with
// weights. The first preference that matches a supported language with at least High
// confidence wins ("de-CH" → de; CLDR also maps Swiss German and Luxembourgish to German,
// Belarusian and Kazakh to Russian); empty, malformed or unmatched ones are skipped,
// and when none is left the answer is "en".
func (b *Bundle) Lang(prefs ...string) string {
	for _, p := range prefs {
		if lang := b.match(p); lang != "" {
			return lang
		}
	}
	return source
}

// match is the supported language p matches with at least High confidence, or "".
func (b *Bundle) match(p string) string {
	// A tag Lang returned (the language cookie, most accounts' locale) is its own best
	// match: no need to parse it and run the matcher, on every page.
	for _, l := range languages {
		if p == l.Tag {
			return p
		}
	}
	// Browsers send the same few Accept-Language values over and over; parsing one and
	// running the matcher was a tenth of rendering a page.
	if v, ok := b.matched.Load(p); ok {
		return v.(string)
	}
	lang := ""
	if tags := parsePref(p); len(tags) > 0 {
		if _, i, conf := b.matcher.Match(tags...); conf >= language.High {
			lang = languages[i].Tag
		}
	}
	if len(p) <= maxMatchedPref && b.nMatched.Load() < maxMatched {
		if _, loaded := b.matched.LoadOrStore(p, lang); !loaded {
			b.nMatched.Add(1)
		}
	}
	return lang
}

// maxMatched bounds how many preference strings a Bundle remembers the match of, and
// maxMatchedPref their length: they come from requests, so anyone can send new ones. Past
// the bound, new ones are parsed every time, as all were before.
const (
	maxMatched     = 1024
	maxMatchedPref = 256
)

// parsePref reads a tag or an Accept-Language value. A header with one malformed entry
// still yields its good ones, so a single odd browser setting does not discard the rest.
func parsePref(p string) []language.Tag {
	p = strings.TrimSpace(p)
	if p == "" {
		return nil
	}
	if len(p) > maxPref {
		p = p[:maxPref]
		if i := strings.LastIndexByte(p, ','); i > 0 {
			p = p[:i]
		}
	}
	if tags, _, err := language.ParseAcceptLanguage(p); err == nil {
		return tags
	}
	var tags []language.Tag
	for _, part := range strings.Split(p, ",") {
		tag, params, _ := strings.Cut(part, ";")
		if _, q, ok := strings.Cut(params, "q="); ok {
			if w, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err != nil || w <= 0 {
				continue // unreadable, or weight zero: "not this one"
			}
		}
		if t, err := language.Parse(strings.TrimSpace(tag)); err == nil {
			tags = append(tags, t)
		}
	}
	return tags
}

// T translates msg, written in English, into lang (a value Lang returned) and then
// formats it with args like fmt.Sprintf. Without a translation, including for English
// and unknown languages, msg itself is formatted. Without args the text is returned
// as is, so only messages that take arguments need "%%" for a percent sign.
func (b *Bundle) T(lang, msg string, args ...any) string {
	text := msg
	if e, ok := b.catalogs[lang][msg]; ok {
		text = e.text
		if e.forms != nil {
			text = e.pick(lang, args)
		}
	}
	if len(args) == 0 {
		return text
	}
	return fmt.Sprintf(text, args...)
}

// pick chooses the plural form for the counting argument by CLDR's rules for lang.
func (e entry) pick(lang string, args []any) string {
	if e.pluralAt < len(args) {
		if n, ok := integer(args[e.pluralAt]); ok {
			form := plural.Cardinal.MatchPlural(language.Make(lang), n, 0, 0, 0, 0)
			if s, ok := e.forms[form]; ok {
				return s
			}
		}
	}
	return e.forms[plural.Other]
}

// integer returns the absolute value of an integer argument, clamped to int.
func integer(v any) (int, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if n < 0 {
			n = -n
		}
		if n < 0 || n > math.MaxInt32 { // MinInt64 stays negative; both clamp
			n = math.MaxInt32
		}
		return int(n), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n := rv.Uint()
		if n > math.MaxInt32 {
			n = math.MaxInt32
		}
		return int(n), true
	}
	return 0, false
}

// Languages lists the UI languages, English first, for the language switcher.
func (b *Bundle) Languages() []Language {
	return append([]Language(nil), languages[:]...)
}

// Missing returns the messages among msgs that lang's catalog lacks, sorted; none for
// English, whose text is the message itself.
func (b *Bundle) Missing(lang string, msgs []string) []string {
	if lang == source {
		return nil
	}
	var out []string
	for _, m := range msgs {
		if _, ok := b.catalogs[lang][m]; !ok {
			out = append(out, m)
		}
	}
	return sortedUnique(out)
}

// Unused returns lang's catalog keys that are not among used, sorted: translations left
// behind after the English text changed or the message went away.
func (b *Bundle) Unused(lang string, used []string) []string {
	in := make(map[string]bool, len(used))
	for _, u := range used {
		in[u] = true
	}
	var out []string
	for m := range b.catalogs[lang] {
		if !in[m] {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

func sortedUnique(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}
