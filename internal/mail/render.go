package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	"golang.org/x/text/language"

	"github.com/myaccount/myaccount/internal/geo"
)

// Kinds of message a Renderer knows. Each has a subject, a text and an HTML template in
// every supported language; NewRenderer fails if one is missing.
const (
	// Activation asks a new user to confirm their address. Needs Link; valid 5 days by default.
	Activation = "activation"
	// AlreadyRegistered goes to an address someone tried to register again, instead of
	// revealing on the sign-up page that the address is taken. Needs Link (sign-in page)
	// and ResetLink (password reset page).
	AlreadyRegistered = "already_registered"
	// ActivationReminder warns that an unactivated account will be deleted tomorrow.
	// Needs Link (activation).
	ActivationReminder = "activation_reminder"
	// PasswordReset carries a reset link. Needs Link; valid 1 hour by default.
	PasswordReset = "password_reset"
	// PasswordChanged notifies of a password change. Link (optional) is where to reset the
	// password if the change was not the user's.
	PasswordChanged = "password_changed"
	// Lockout tells that too many failed sign-ins locked the account until Until, and that
	// resetting the password lifts the lock. Needs Link (reset); valid 1 hour by default.
	Lockout = "lockout"
	// EmailChangeVerify goes to the NEW address to confirm it. Needs Link and NewEmail.
	EmailChangeVerify = "email_change_verify"
	// EmailChanged notifies the OLD address (Email) that the address is now NewEmail.
	// Needs NewEmail; Link (optional) is where to get help.
	EmailChanged = "email_changed"
	// SignInCode carries a one-time sign-in code. Needs Code; valid 10 minutes by default.
	SignInCode = "sign_in_code"
	// MFAChanged notifies that a second factor (Factor) was added, or removed when
	// FactorRemoved is set. Link (optional) is where to secure the account.
	MFAChanged = "mfa_changed"
	// SecondStepFailed warns that someone passed the password but failed the second step:
	// the password is known to someone. Link (optional) is where to change it.
	SecondStepFailed = "second_step_failed"
	// NewSignIn tells that the account was signed in to from a browser that had not signed
	// in to it before. Needs At (when); Link (optional) is the page listing signed-in devices.
	NewSignIn = "new_sign_in"
	// AccountDeleted confirms the deletion of the account. Link (optional) is where to get
	// help if the deletion was not the user's.
	AccountDeleted = "account_deleted"
)

// Kinds lists every kind of message, in a stable order.
func Kinds() []string {
	return []string{
		Activation, AlreadyRegistered, ActivationReminder, PasswordReset, PasswordChanged,
		Lockout, EmailChangeVerify, EmailChanged, SignInCode, MFAChanged, SecondStepFailed, NewSignIn, AccountDeleted,
	}
}

// Languages lists the languages templates exist for; the first is the fallback.
func Languages() []string { return []string{"en", "de", "ru"} }

// defaultValidity is the validity shown when Data gives neither ExpiresIn nor ValidFor. It
// matches what the account flows promise; callers with configurable lifetimes should pass
// ValidFor so the mail never claims a different one. Zero means the kind shows none.
func defaultValidity(kind string) time.Duration {
	switch kind {
	case Activation:
		return 5 * 24 * time.Hour
	case PasswordReset, Lockout:
		return time.Hour
	case SignInCode:
		return 10 * time.Minute
	}
	return 0
}

// checkRequired rejects Data missing a field without which the kind makes no sense:
// rendering an activation mail without a link is a bug upstream, better reported than sent.
func checkRequired(kind string, d Data) error {
	need := func(name, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("mail: %s message needs Data.%s", kind, name)
		}
		return nil
	}
	switch kind {
	case Activation, ActivationReminder, PasswordReset, Lockout:
		return need("Link", d.Link)
	case AlreadyRegistered:
		return errors.Join(need("Link", d.Link), need("ResetLink", d.ResetLink))
	case EmailChangeVerify:
		return errors.Join(need("Link", d.Link), need("NewEmail", d.NewEmail))
	case EmailChanged:
		return need("NewEmail", d.NewEmail)
	case SignInCode:
		return need("Code", d.Code)
	case MFAChanged:
		return need("Factor", d.Factor)
	case NewSignIn:
		if d.At.IsZero() {
			return fmt.Errorf("mail: %s message needs Data.At", kind)
		}
	}
	return nil
}

// Data is what templates may show. Unused fields are simply ignored by a kind.
type Data struct {
	// ProductName defaults to the name given to NewRenderer.
	ProductName string
	// Email is the account's address (for EmailChanged: the old one).
	Email string
	// Link is the kind's main link: activation, reset, confirmation, sign-in or help page.
	Link string
	// ResetLink is the password reset page, for AlreadyRegistered.
	ResetLink string
	// Code is the one-time code of SignInCode.
	Code string
	// NewEmail is the address being switched to (EmailChangeVerify, EmailChanged).
	NewEmail string
	// Factor names the second factor of MFAChanged. The identifiers "totp", "webauthn",
	// "passkey", "recovery_codes" and "email" are translated; anything else is shown as is.
	Factor string
	// FactorRemoved makes MFAChanged say the factor was removed rather than added.
	FactorRemoved bool
	// Until is when a Lockout ends; zero says "temporarily".
	Until time.Time
	// At is when the event a notice tells of happened (NewSignIn: the sign-in).
	At time.Time
	// TimeZone is the IANA zone Until and At are shown in (e.g. "Europe/Berlin"); empty or unknown
	// means UTC.
	TimeZone string
	// DateFormat is the person's date format (geo's IDs); empty writes the month out.
	DateFormat string
	// ExpiresIn, when set, is shown verbatim as the link's or code's validity and must
	// already be in the message's language (e.g. "2 hours", "2 Stunden", "2 часа").
	ExpiresIn string
	// ValidFor is the validity to show, localized; zero means the kind's default.
	// ExpiresIn wins when both are set.
	ValidFor time.Duration
	// IP and UserAgent describe the request that caused the mail; shown when set, so a
	// user can tell whether it was them.
	IP, UserAgent string
	// NotMeLink, on a security notice (PasswordChanged, EmailChanged, MFAChanged,
	// SecondStepFailed, SignInCode, NewSignIn), is the "This wasn't me" page: it signs out everywhere
	// and starts a password reset. Shown when set.
	NotMeLink string
}

// view is what templates execute on: the caller's Data with defaults filled in, plus what
// the renderer computes per language. Data's fields are copied rather than embedded: a
// template reaching a field of an embedded struct costs text/template a
// reflect.FieldByNameFunc search (a map and a queue allocated per action), about a sixth of
// rendering a message. TestViewHasDataFields keeps the two in step.
type view struct {
	ProductName, Email, Link, ResetLink, Code, NewEmail, Factor string
	FactorRemoved                                               bool
	Until, At                                                   time.Time
	TimeZone, DateFormat, ExpiresIn                             string
	ValidFor                                                    time.Duration
	IP, UserAgent, NotMeLink                                    string

	Lang      string
	Subject   string
	UntilText string
	AtText    string
}

func newView(d Data) view {
	return view{ProductName: d.ProductName, Email: d.Email, Link: d.Link, ResetLink: d.ResetLink, Code: d.Code,
		NewEmail: d.NewEmail, Factor: d.Factor, FactorRemoved: d.FactorRemoved, Until: d.Until, At: d.At,
		TimeZone: d.TimeZone, DateFormat: d.DateFormat, ExpiresIn: d.ExpiresIn, ValidFor: d.ValidFor,
		IP: d.IP, UserAgent: d.UserAgent, NotMeLink: d.NotMeLink}
}

// action is the argument of the HTML "action" template: a button with the link repeated
// as text underneath, for clients that block or mangle buttons.
type action struct {
	URL   string
	Label string
}

//go:embed templates
var templateFS embed.FS

// Renderer renders localized messages. It is immutable after NewRenderer and safe for
// concurrent use.
type Renderer struct {
	product string
	// bufs holds *bytes.Buffer for Render (see buffer).
	bufs sync.Pool
	// sets are the parsed templates, parsed again on the first message (see NewRenderer).
	sets func() (*templateSets, error)
}

// templateSets are the parsed templates of every language.
type templateSets struct {
	text map[string]*texttemplate.Template // lang → set with "<kind>.subject" and "<kind>"
	// kinds maps lang → kind → the kind's templates, looked up once here rather than by name
	// (under the set's lock) per message.
	kinds map[string]map[string]kindTemplates
}

// kindTemplates are one kind's templates in one language.
type kindTemplates struct {
	subject, text *texttemplate.Template
	// html is the language's "layout" with the kind's body in place of "content".
	html *htmltemplate.Template
}

// ErrUnknownKind is returned by Render for a kind not in Kinds().
var ErrUnknownKind = errors.New("mail: unknown message kind")

// NewRenderer parses every template once and renders each kind in each language with
// sample data, so a missing or broken template stops start-up instead of a sign-up. What it
// parsed and rendered is then dropped: the templates are parsed again for the first message,
// so that a server that sends none does not hold them (about 0.5 MB of heap, escaped HTML
// sets included).
func NewRenderer(productName string) (*Renderer, error) {
	productName = strings.TrimSpace(productName)
	if productName == "" {
		return nil, errors.New("mail: product name is required")
	}
	checked, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	r := &Renderer{product: productName, sets: func() (*templateSets, error) { return checked, nil }}
	sample := Data{
		Email: "user@example.com", Link: "https://example.com/l?t=x", ResetLink: "https://example.com/r",
		Code: "123456", NewEmail: "new@example.com", Factor: "totp", Until: time.Unix(0, 0), At: time.Unix(0, 0),
		IP: "192.0.2.1", UserAgent: "Mozilla/5.0", NotMeLink: "https://example.com/not-me?token=x",
	}
	for _, lang := range Languages() {
		for _, kind := range Kinds() {
			if _, err := r.Render(kind, lang, sample); err != nil {
				return nil, fmt.Errorf("mail: trial render: %w", err)
			}
		}
	}
	r.sets = sync.OnceValues(parseTemplates) // the embedded templates cannot change
	return r, nil
}

// parseTemplates parses and checks every language's templates.
func parseTemplates() (*templateSets, error) {
	ts := &templateSets{text: map[string]*texttemplate.Template{}, kinds: map[string]map[string]kindTemplates{}}
	funcs := map[string]any{"action": func(url, label string) action { return action{url, label} }}
	for _, lang := range Languages() {
		txt, err := texttemplate.New(lang).ParseFS(templateFS, "templates/"+lang+"/text.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: text templates for %q: %w", lang, err)
		}
		base, err := htmltemplate.New(lang).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html.tmpl", "templates/"+lang+"/html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: HTML templates for %q: %w", lang, err)
		}
		ts.text[lang] = txt
		layout := base.Lookup("layout")
		if layout == nil {
			return nil, fmt.Errorf("mail: missing HTML template \"layout\" for %q", lang)
		}
		// One HTML set per language, in which a copy of the layout's tree per kind calls the
		// kind's body where the layout says "content", rather than a clone of the set per kind:
		// html/template escapes (and so copies) a set on its first execution, and 3 languages ×
		// 14 kinds of clones held ~2.8 MB for the life of the process; a layout's tree is a few
		// kB. (A "content" choosing the body with {{if eq .MessageKind …}} per kind cost a
		// reflective call of eq per kind before the right one.) The output is the same.
		ts.kinds[lang] = map[string]kindTemplates{}
		for _, kind := range Kinds() {
			kt := kindTemplates{subject: txt.Lookup(kind + ".subject"), text: txt.Lookup(kind)}
			for name, t := range map[string]*texttemplate.Template{kind + ".subject": kt.subject, kind: kt.text} {
				if t == nil {
					return nil, fmt.Errorf("mail: missing text template %q for %q", name, lang)
				}
			}
			if base.Lookup(kind) == nil {
				return nil, fmt.Errorf("mail: missing HTML template %q for %q", kind, lang)
			}
			tree := layout.Tree.Copy()
			tree.Name = "layout." + kind
			if n := renameTemplateCalls(tree.Root, "content", kind); n != 1 {
				return nil, fmt.Errorf("mail: the HTML layout calls \"content\" %d times, want once", n)
			}
			if kt.html, err = base.AddParseTree(tree.Name, tree); err != nil {
				return nil, fmt.Errorf("mail: HTML pages for %q: %w", lang, err)
			}
			ts.kinds[lang][kind] = kt
		}
	}
	return ts, nil
}

// renameTemplateCalls makes every {{template from …}} below n call to instead and says how
// many it changed.
func renameTemplateCalls(n parse.Node, from, to string) int {
	count := 0
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				count += renameTemplateCalls(c, from, to)
			}
		}
	case *parse.TemplateNode:
		if n.Name == from {
			n.Name = to
			count++
		}
	case *parse.IfNode:
		count += renameTemplateCalls(n.List, from, to) + renameTemplateCalls(n.ElseList, from, to)
	case *parse.RangeNode:
		count += renameTemplateCalls(n.List, from, to) + renameTemplateCalls(n.ElseList, from, to)
	case *parse.WithNode:
		count += renameTemplateCalls(n.List, from, to) + renameTemplateCalls(n.ElseList, from, to)
	}
	return count
}

// Render renders kind in the language best matching lang (see MatchLanguage). The
// returned Message has no To: the recipient is the caller's decision (EmailChangeVerify,
// for one, goes to Data.NewEmail, not Data.Email).
func (r *Renderer) Render(kind, lang string, data Data) (Message, error) {
	if !isKind(kind) {
		return Message{}, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	if err := checkRequired(kind, data); err != nil {
		return Message{}, err
	}
	lang = MatchLanguage(lang)
	v := newView(data)
	v.Lang = lang
	if v.ProductName == "" {
		v.ProductName = r.product
	}
	if v.ExpiresIn == "" {
		d := v.ValidFor
		if d <= 0 {
			d = defaultValidity(kind)
		}
		if d > 0 {
			v.ExpiresIn = geo.FormatDuration(d, lang)
		}
	}
	if !v.Until.IsZero() {
		v.UntilText = formatTime(lang, v.Until, v.TimeZone, v.DateFormat)
	}
	if !v.At.IsZero() {
		v.AtText = formatTime(lang, v.At, v.TimeZone, v.DateFormat)
	}
	v.Factor = factorName(lang, v.Factor)

	ts, err := r.sets()
	if err != nil {
		return Message{}, err
	}
	kt := ts.kinds[lang][kind]
	buf := r.buffer()
	defer r.putBuffer(buf)
	if err := kt.subject.Execute(buf, v); err != nil {
		return Message{}, fmt.Errorf("mail: %s subject (%s): %w", kind, lang, err)
	}
	// A subject is one header line: fold whatever whitespace the template produced.
	v.Subject = strings.Join(strings.Fields(buf.String()), " ")
	buf.Reset()
	if err := kt.text.Execute(buf, v); err != nil {
		return Message{}, fmt.Errorf("mail: %s text (%s): %w", kind, lang, err)
	}
	text := tidyText(buf.String())
	buf.Reset()
	if err := kt.html.Execute(buf, v); err != nil {
		return Message{}, fmt.Errorf("mail: %s HTML (%s): %w", kind, lang, err)
	}
	return Message{Kind: kind, Subject: v.Subject, Text: text, HTML: buf.String()}, nil
}

// buffer is an empty buffer from the pool: a message's HTML is about 4 kB, and growing a
// new buffer to it took several copies per message. Render puts it back.
func (r *Renderer) buffer() *bytes.Buffer {
	if b, ok := r.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (r *Renderer) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		r.bufs.Put(b)
	}
}

// maxPooledBuffer bounds what a pooled buffer may keep: a message with an unusually long
// value is not worth holding on to.
const maxPooledBuffer = 64 << 10

// isKind reports whether kind is one of Kinds(), without building the list.
func isKind(kind string) bool {
	switch kind {
	case Activation, AlreadyRegistered, ActivationReminder, PasswordReset, PasswordChanged,
		Lockout, EmailChangeVerify, EmailChanged, SignInCode, MFAChanged, SecondStepFailed, NewSignIn, AccountDeleted:
		return true
	}
	return false
}

// MatchLanguage maps a language tag ("de-CH", "ru_RU") or an Accept-Language value
// ("fr-CH, de;q=0.9") to a supported language by base language, in preference order,
// falling back to "en".
func MatchLanguage(tag string) string {
	switch tag {
	case "en", "de", "ru": // what callers mostly pass: nothing to parse
		return tag
	}
	supported := func(base string) bool {
		for _, l := range Languages() {
			if l == base {
				return true
			}
		}
		return false
	}
	if tags, _, err := language.ParseAcceptLanguage(tag); err == nil {
		for _, t := range tags {
			if b, conf := t.Base(); conf != language.No && supported(b.String()) {
				return b.String()
			}
		}
		return Languages()[0]
	}
	// Unknown subtags make the parser give up on the whole list; fall back to reading the
	// base language of each entry by hand.
	for _, part := range strings.Split(tag, ",") {
		part, _, _ = strings.Cut(part, ";")
		base := strings.ToLower(strings.TrimSpace(part))
		if i := strings.IndexAny(base, "-_"); i >= 0 {
			base = base[:i]
		}
		if supported(base) {
			return base
		}
	}
	return Languages()[0]
}

// tidyText lets the text templates be written readably (conditionals on their own lines)
// without the mail showing the seams: trailing spaces go, blank lines collapse to one.
// (One pass into one buffer: splitting into lines and joining them again allocated per line.)
func tidyText(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	n, lastBlank := 0, false // lines written, and whether the last one was blank
	for rest := s; ; {
		line, more, found := strings.Cut(rest, "\n")
		if found { // "\r\n" ends a line like "\n"; any other "\r" stays
			line = strings.TrimSuffix(line, "\r")
		}
		line = strings.TrimRight(line, " \t")
		if line != "" || n == 0 || !lastBlank {
			if n > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(line)
			n, lastBlank = n+1, line == ""
		}
		if !found {
			break
		}
		rest = more
	}
	return strings.TrimSpace(b.String()) + "\n"
}
