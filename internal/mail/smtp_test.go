package mail_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
)

const from = "MyAccount <no-reply@id.example.com>"

func newSender(t *testing.T, srv *mailtest.Server, starttls string, mod ...func(*mail.SMTPConfig)) *mail.SMTPSender {
	t.Helper()
	cfg := mail.SMTPConfig{
		Host: srv.Host(), Port: srv.Port(), StartTLS: starttls, From: from, Timeout: 10 * time.Second,
	}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := mail.NewSMTPSender(cfg)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

// A link longer than a quoted-printable line (76) with '=' and '&' in it: the encoder
// must wrap it and escape '=', and decoding must give it back whole.
const longLink = "http://127.0.0.1:8080/account/activate?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ&lang=ru&next=%2Fconsent%3Fclient_id%3Ddemo"

func TestSMTPRoundTripEveryLanguage(t *testing.T) {
	r, err := mail.NewRenderer("MyAccount")
	if err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t)
	s := newSender(t, srv, "none")

	wantSubject := map[string]string{
		"en": "Activate your MyAccount account",
		"de": "Aktivieren Sie Ihr MyAccount-Konto",
		"ru": "Активируйте аккаунт MyAccount",
	}
	for _, lang := range mail.Languages() {
		t.Run(lang, func(t *testing.T) {
			to := "ada+" + lang + "@example.com"
			m, err := r.Render(mail.Activation, lang, mail.Data{Link: longLink})
			if err != nil {
				t.Fatal(err)
			}
			m.To = to
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.WaitFor(t, to, 5*time.Second)

			if got.Subject != wantSubject[lang] {
				t.Errorf("subject = %q, want %q", got.Subject, wantSubject[lang])
			}
			if got.Text != m.Text {
				t.Errorf("text changed in transit:\n got %q\nwant %q", got.Text, m.Text)
			}
			if got.HTML != m.HTML {
				t.Errorf("html changed in transit")
			}
			if l := mailtest.FirstLink(got.Text, "http://127.0.0.1:8080/"); l != longLink {
				t.Errorf("FirstLink(text) = %q, want %q", l, longLink)
			}
			if l := mailtest.FirstLink(got.HTML, "http://127.0.0.1:8080/"); l != longLink {
				t.Errorf("FirstLink(html) = %q, want %q", l, longLink)
			}

			raw := string(got.Raw)
			// The wire form must be 7-bit clean and really encoded: soft line breaks prove
			// the long link was wrapped, and the test above proves it came back whole.
			for i := 0; i < len(raw); i++ {
				if raw[i] >= 0x80 {
					t.Fatalf("raw message has a non-ASCII byte at %d", i)
				}
			}
			if !strings.Contains(raw, "=\r\n") {
				t.Errorf("expected quoted-printable soft line breaks in the raw message")
			}
			if got.From != "no-reply@id.example.com" || len(got.To) != 1 || got.To[0] != to {
				t.Errorf("envelope from %q to %v", got.From, got.To)
			}
			h := got.Header
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
				t.Errorf("Content-Type = %q, want multipart/alternative", ct)
			}
			if _, err := h.Date(); err != nil {
				t.Errorf("Date header: %v", err)
			}
			if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@id.example.com>") {
				t.Errorf("Message-ID = %q, want <…@id.example.com>", id)
			}
			if addrs, err := h.AddressList("From"); err != nil || len(addrs) != 1 ||
				addrs[0].Name != "MyAccount" || addrs[0].Address != "no-reply@id.example.com" {
				t.Errorf("From = %q (%v)", h.Get("From"), err)
			}
			if addrs, err := h.AddressList("To"); err != nil || len(addrs) != 1 || addrs[0].Address != to {
				t.Errorf("To = %q (%v)", h.Get("To"), err)
			}
			if h.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("Auto-Submitted = %q", h.Get("Auto-Submitted"))
			}
			if ua := h.Get("User-Agent") + h.Get("X-Mailer"); ua != "" {
				t.Errorf("mailer advertised: %q", ua)
			}
		})
	}
}

func TestSMTPNonASCIISubjectsSurvive(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSender(t, srv, "opportunistic") // no STARTTLS offered: plaintext is allowed here
	subjects := []string{
		"Ihr Passwort für MyAccount wurde geändert – Größe, Übermaß, Straße",
		"Пароль вашего аккаунта MyAccount изменён",
		// Long enough to need several encoded-words and header folding.
		"Адрес электронной почты вашего аккаунта MyAccount изменён — подтвердите, пожалуйста, что это были вы, и проверьте настройки",
	}
	for i, subj := range subjects {
		to := "u" + string(rune('a'+i)) + "@example.com"
		if err := s.Send(context.Background(), mail.Message{To: to, Subject: subj, Text: "x"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := srv.WaitFor(t, to, 5*time.Second)
		if got.Subject != subj {
			t.Errorf("subject = %q, want %q", got.Subject, subj)
		}
		if strings.TrimRight(got.Text, "\n") != "x" || got.HTML != "" {
			t.Errorf("text-only message: text %q html %q", got.Text, got.HTML)
		}
	}
}

func TestSMTPStartTLSMandatoryRefusesPlaintext(t *testing.T) {
	srv := mailtest.NewServer(t) // offers no STARTTLS
	s := newSender(t, srv, "mandatory")
	err := s.Send(context.Background(), mail.Message{To: "ada@example.com", Subject: "s", Text: "secret link"})
	if err == nil {
		t.Fatal("Send succeeded against a server without STARTTLS")
	}
	if !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "mandatory") {
		t.Errorf("error does not say why: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages; mandatory STARTTLS must never fall back", n)
	}

	// The empty policy means mandatory too: secure by default.
	s = newSender(t, srv, "")
	if err := s.Send(context.Background(), mail.Message{To: "ada@example.com", Text: "x"}); err == nil {
		t.Error("default policy sent in plaintext")
	}
}

func TestSMTPStartTLSUpgrades(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithSTARTTLS())
	for _, policy := range []string{"mandatory", "opportunistic"} {
		s := newSender(t, srv, policy, func(c *mail.SMTPConfig) { c.TLSConfig = srv.ClientTLSConfig() })
		to := policy + "@example.com"
		if err := s.Send(context.Background(), mail.Message{To: to, Subject: "s", Text: "x"}); err != nil {
			t.Fatalf("%s: Send: %v", policy, err)
		}
		if got := srv.WaitFor(t, to, 5*time.Second); !got.TLS {
			t.Errorf("%s: message arrived without TLS", policy)
		}
	}

	// An untrusted certificate is an error, not a reason to continue in plaintext.
	s := newSender(t, srv, "mandatory")
	if err := s.Send(context.Background(), mail.Message{To: "x@example.com", Text: "x"}); err == nil {
		t.Error("Send trusted a self-signed certificate")
	}
}

func TestSMTPAuthOnlyWithUsername(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithAuth())

	anon := newSender(t, srv, "none")
	if err := anon.Send(context.Background(), mail.Message{To: "a@example.com", Text: "x"}); err == nil {
		t.Error("unauthenticated send accepted by a server requiring AUTH")
	}

	s := newSender(t, srv, "none", func(c *mail.SMTPConfig) { c.Username, c.Password = "relay", "pw" })
	if err := s.Send(context.Background(), mail.Message{To: "b@example.com", Text: "x"}); err != nil {
		t.Fatalf("authenticated Send: %v", err)
	}
	if got := srv.WaitFor(t, "b@example.com", 5*time.Second); got.Username != "relay" {
		t.Errorf("authenticated as %q, want relay", got.Username)
	}

	// Without a username the sender must not try AUTH at all against a server that
	// offers it but does not require it.
	open := mailtest.NewServer(t)
	s = newSender(t, open, "none")
	if err := s.Send(context.Background(), mail.Message{To: "c@example.com", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := open.WaitFor(t, "c@example.com", 5*time.Second); got.Username != "" {
		t.Errorf("authenticated as %q without a username", got.Username)
	}
}

// silentServer accepts connections and never says a word, like a mail server that hangs.
func silentServer(t *testing.T) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; _ = c.Close() }()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

func TestSMTPHonoursContext(t *testing.T) {
	host, port := silentServer(t)
	s, err := mail.NewSMTPSender(mail.SMTPConfig{
		Host: host, Port: port, StartTLS: "none", From: from, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := mail.Message{To: "ada@example.com", Subject: "s", Text: "x"}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err = s.Send(ctx, m)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled mid-conversation: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v after cancellation; the 1m timeout should not matter", d)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := s.Send(ctx, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: err = %v, want context.DeadlineExceeded", err)
	}

	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if err := s.Send(done, m); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: err = %v, want context.Canceled", err)
	}
}

func TestSMTPTimeout(t *testing.T) {
	host, port := silentServer(t)
	s, err := mail.NewSMTPSender(mail.SMTPConfig{
		Host: host, Port: port, StartTLS: "none", From: from, Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Send(context.Background(), mail.Message{To: "a@example.com", Text: "x"}); err == nil {
		t.Fatal("Send to a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v with a 300ms timeout", d)
	}
}

func TestNewSMTPSenderValidates(t *testing.T) {
	ok := mail.SMTPConfig{Host: "smtp.example.com", From: from}
	bad := map[string]func(*mail.SMTPConfig){
		"no host":             func(c *mail.SMTPConfig) { c.Host = " " },
		"bad starttls":        func(c *mail.SMTPConfig) { c.StartTLS = "sometimes" },
		"bad port":            func(c *mail.SMTPConfig) { c.Port = 70000 },
		"password, no user":   func(c *mail.SMTPConfig) { c.Password = "pw" },
		"no from":             func(c *mail.SMTPConfig) { c.From = "" },
		"unparseable from":    func(c *mail.SMTPConfig) { c.From = "MyAccount <no-reply@" },
		"negative timeout":    func(c *mail.SMTPConfig) { c.Timeout = -time.Second },
		"from with two addrs": func(c *mail.SMTPConfig) { c.From = "a@example.com, b@example.com" },
	}
	for name, mod := range bad {
		cfg := ok
		mod(&cfg)
		if _, err := mail.NewSMTPSender(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := mail.NewSMTPSender(ok)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "smtp.example.com:587" {
		t.Errorf("default port: %s", s.Addr())
	}
	none := ok
	none.StartTLS = "None"
	if s, err := mail.NewSMTPSender(none); err != nil || s.Addr() != "smtp.example.com:25" {
		t.Errorf("starttls none: %v %v", s, err)
	}
}

func TestSMTPRejectsBadMessages(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSender(t, srv, "none")
	for name, m := range map[string]mail.Message{
		"no recipient":      {Subject: "s", Text: "x"},
		"two recipients":    {To: "a@example.com, b@example.com", Text: "x"},
		"header injection":  {To: "a@example.com\r\nBcc: victim@example.com", Text: "x"},
		"no body":           {To: "a@example.com", Subject: "s"},
		"not an address":    {To: "not an address", Text: "x"},
		"display name only": {To: "Ada", Text: "x"},
	} {
		if err := s.Send(context.Background(), m); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	// A subject with a line break is folded into one line, not turned into a header.
	if err := s.Send(context.Background(), mail.Message{To: "a@example.com", Subject: "hi\r\nBcc: v@example.com", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "a@example.com", 5*time.Second)
	if got.Header.Get("Bcc") != "" || got.Subject != "hi Bcc: v@example.com" || len(got.To) != 1 {
		t.Errorf("subject injection: subject %q, to %v, bcc %q", got.Subject, got.To, got.Header.Get("Bcc"))
	}
}
