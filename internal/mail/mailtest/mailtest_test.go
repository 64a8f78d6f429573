package mailtest

import (
	"fmt"
	"net"
	"net/smtp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// send delivers raw with the standard library's client, independent of the sender this
// package exists to test.
func send(t *testing.T, s *Server, from string, to []string, raw string) {
	t.Helper()
	addr := net.JoinHostPort(s.Host(), strconv.Itoa(s.Port()))
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	if err := smtp.SendMail(addr, nil, from, to, []byte(raw)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
}

func TestParsesNestedMultipartBase64AndEncodedWords(t *testing.T) {
	s := NewServer(t)
	raw := `From: =?utf-8?b?0JzQvtC5INCQ0LrQutCw0YPQvdGC?= <no-reply@example.com>
To: ada@example.com
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?= und
 =?utf-8?b?0J/RgNC40LLQtdGC?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

0J/RgNC40LLQtdGCISBodHRwczovL2V4YW1wbGUuY29tL2E/dD0xJnU9Mg==
--inner
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<a href=3D"https://example.com/a?t=3D1&amp;u=3D2">Gr=C3=BC=C3=9Fe</a> =
und mehr
--inner--
--outer
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="x.txt"

not the body
--outer--
`
	send(t, s, "bounce@example.com", []string{"ada@example.com", "Bob@Example.com"}, raw)
	got := s.WaitFor(t, "ada@example.com", 5*time.Second)

	if got.Subject != "Grüße aus München und Привет" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if got.Text != "Привет! https://example.com/a?t=1&u=2" {
		t.Errorf("Text = %q", got.Text)
	}
	if got.HTML != `<a href="https://example.com/a?t=1&amp;u=2">Grüße</a> und mehr` {
		t.Errorf("HTML = %q", got.HTML)
	}
	if got.From != "bounce@example.com" || strings.Join(got.To, ",") != "ada@example.com,Bob@Example.com" {
		t.Errorf("envelope %q → %v", got.From, got.To)
	}
	if got.Header.Get("To") != "ada@example.com" || len(got.Raw) == 0 || got.TLS || got.Username != "" {
		t.Errorf("header/raw/tls/user: %q %d %v %q", got.Header.Get("To"), len(got.Raw), got.TLS, got.Username)
	}
	if l := FirstLink(got.HTML, "https://example.com/"); l != "https://example.com/a?t=1&u=2" {
		t.Errorf("FirstLink(html) = %q", l)
	}

	// The same message is addressed to Bob too; matching ignores case.
	if again := s.WaitFor(t, "bob@example.com", time.Second); again.Subject != got.Subject {
		t.Errorf("second recipient got %q", again.Subject)
	}
}

func TestRejectsMalformedMIME(t *testing.T) {
	s := NewServer(t)
	addr := net.JoinHostPort(s.Host(), strconv.Itoa(s.Port()))
	raw := "To: a@example.com\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"
	err := smtp.SendMail(addr, nil, "f@example.com", []string{"a@example.com"}, []byte(raw))
	if err == nil || !strings.Contains(err.Error(), "cannot parse") {
		t.Errorf("err = %v, want the server to refuse", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("kept %d malformed messages", n)
	}
}

func TestWaitForConsumesInOrderAndWaits(t *testing.T) {
	s := NewServer(t)
	msg := func(subj string) string {
		return "To: ada@example.com\nSubject: " + subj + "\n\nbody\n"
	}
	send(t, s, "f@example.com", []string{"ada@example.com"}, msg("one"))
	send(t, s, "f@example.com", []string{"ada@example.com"}, msg("two"))

	if got := s.WaitFor(t, "ada@example.com", time.Second); got.Subject != "one" {
		t.Errorf("first WaitFor = %q", got.Subject)
	}
	if got := s.WaitFor(t, "ada@example.com", time.Second); got.Subject != "two" {
		t.Errorf("second WaitFor = %q", got.Subject)
	}

	// A message sent while WaitFor is blocked wakes it up.
	go func() {
		time.Sleep(100 * time.Millisecond)
		addr := net.JoinHostPort(s.Host(), strconv.Itoa(s.Port()))
		_ = smtp.SendMail(addr, nil, "f@example.com", []string{"ada@example.com"},
			[]byte(strings.ReplaceAll(msg("three"), "\n", "\r\n")))
	}()
	if got := s.WaitFor(t, "ada@example.com", 5*time.Second); got.Subject != "three" {
		t.Errorf("third WaitFor = %q", got.Subject)
	}
	if n := len(s.Messages()); n != 3 {
		t.Errorf("Messages() has %d, want 3 (WaitFor does not remove)", n)
	}
}

// fakeTB records a Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestWaitForTimesOut(t *testing.T) {
	s := NewServer(t)
	send(t, s, "f@example.com", []string{"other@example.com"}, "Subject: not yours\n\nx\n")
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		s.WaitFor(f, "ada@example.com", 200*time.Millisecond)
	}()
	<-done
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("WaitFor returned after %v", d)
	}
	if !strings.Contains(f.msg, "ada@example.com") || !strings.Contains(f.msg, "not yours") {
		t.Errorf("failure message should name the address and what did arrive: %q", f.msg)
	}
}

func TestAuthAndSTARTTLS(t *testing.T) {
	s := NewServer(t, WithAuth(), WithSTARTTLS())
	addr := net.JoinHostPort(s.Host(), strconv.Itoa(s.Port()))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.Mail("f@example.com"); err == nil {
		t.Fatal("MAIL accepted before AUTH")
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg := s.ClientTLSConfig()
	cfg.ServerName = s.Host()
	if err := c.StartTLS(cfg); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Auth(smtp.PlainAuth("", "anyone", "anything", s.Host())); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if err := c.Mail("f@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ada@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("Subject: hi\r\n\r\nx\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := s.WaitFor(t, "ada@example.com", 5*time.Second)
	if !got.TLS || got.Username != "anyone" {
		t.Errorf("TLS %v, user %q", got.TLS, got.Username)
	}
	if NewServer(t).ClientTLSConfig() != nil {
		t.Error("ClientTLSConfig without WithSTARTTLS should be nil")
	}
}

func TestFirstLink(t *testing.T) {
	cases := []struct{ text, prefix, want string }{
		{"Open https://x.test/a?b=1&c=2 now", "https://x.test/", "https://x.test/a?b=1&c=2"},
		{"Link:\nhttps://x.test/a.\nBye", "https://x.test/", "https://x.test/a"},
		{"(see https://x.test/a)", "https://x.test/", "https://x.test/a"},
		{`<a href="https://x.test/a?b=1&amp;c=2">https://x.test/a?b=1&amp;c=2</a>`, "https://x.test/", "https://x.test/a?b=1&c=2"},
		{"«https://x.test/a»", "https://x.test/", "https://x.test/a"},
		{"first http://other/ then https://x.test/z", "https://x.test/", "https://x.test/z"},
		{"no link here", "https://x.test/", ""},
		{"https://x.test/", "https://x.test/", "https://x.test/"},
		{"anything", "", ""},
	}
	for _, c := range cases {
		if got := FirstLink(c.text, c.prefix); got != c.want {
			t.Errorf("FirstLink(%q, %q) = %q, want %q", c.text, c.prefix, got, c.want)
		}
	}
}
