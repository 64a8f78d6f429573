// Package mailtest runs a real SMTP server on the loopback interface for tests.
//
// Tests of sign-up, password reset and the like should exercise the same SMTP path that
// production uses, not a fake Sender: the point is to catch what only shows on the wire
// (header encoding, MIME structure, quoted-printable mangling a link). The server accepts
// every message, parses its MIME structure and hands it back decoded, so a test can do
//
//	srv := mailtest.NewServer(t)
//	// … point the code under test at srv.Host(), srv.Port() with STARTTLS "none" …
//	msg := srv.WaitFor(t, "ada@example.com", 5*time.Second)
//	link := mailtest.FirstLink(msg.Text, "http://127.0.0.1")
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message as the server got it.
type Received struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To holds the envelope recipients (RCPT TO), as bare addresses.
	To []string
	// Header holds the message's headers, undecoded.
	Header mail.Header
	// Subject is the decoded Subject header (RFC 2047 encoded-words resolved).
	Subject string
	// Text and HTML are the first text/plain and text/html parts, with their
	// Content-Transfer-Encoding undone and line endings normalized to "\n".
	Text string
	HTML string
	// Raw is the message exactly as transmitted after DATA.
	Raw []byte
	// Username is the identity the client authenticated as, if it did.
	Username string
	// TLS reports whether the message arrived over a connection upgraded by STARTTLS.
	TLS bool
}

// Option configures a Server.
type Option func(*Server)

// WithAuth makes the server advertise AUTH PLAIN, accept any credentials and refuse
// MAIL FROM before authentication, so a test can check that a sender does authenticate.
func WithAuth() Option { return func(s *Server) { s.auth = true } }

// WithSTARTTLS makes the server offer STARTTLS with a throwaway self-signed certificate
// for 127.0.0.1; ClientTLSConfig returns a client configuration that trusts it.
func WithSTARTTLS() Option { return func(s *Server) { s.startTLS = true } }

// Server is an SMTP server on 127.0.0.1 that keeps every message it receives.
type Server struct {
	auth, startTLS bool

	srv       *smtp.Server
	host      string
	port      int
	clientTLS *tls.Config
	done      chan struct{}

	mu      sync.Mutex
	msgs    []Received
	taken   []map[string]bool // per message, the recipients WaitFor has returned it for
	arrived chan struct{}     // closed and replaced whenever a message arrives
	closed  bool              // stops logging to t once the test is over
	refuse  bool              // answer MAIL FROM with a temporary failure (see Refuse)
	refused int               // transactions refused so far
	unknown bool              // answer RCPT TO with "no such user" (see RefuseRecipients)
	lose    int               // messages still to keep without answering (see LoseAnswers)
}

// LoseAnswers makes the server keep each of the next n messages and then drop the
// connection instead of answering its DATA, as when a relay's "250" is lost on the way: the
// message arrived, and the sender saw a failure.
func (s *Server) LoseAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// RefuseRecipients makes the server answer every RCPT TO with a permanent "550 5.1.1
// <address>: Recipient address rejected: User unknown" (on), echoing the address as real
// relays do, or accept recipients again (off).
func (s *Server) RefuseRecipients(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unknown = on
}

// Refuse makes the server answer every MAIL FROM with "451 try again later" (on) or accept
// mail again (off), like a relay in trouble; it returns how many transactions it had
// refused so far.
func (s *Server) Refuse(on bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
	return s.refused
}

// Refused returns how many transactions were refused (see Refuse).
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// NewServer starts a server on 127.0.0.1 with a free port and stops it in t.Cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{arrived: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.AllowInsecureAuth = true // loopback only; the point is testing the client side
	s.srv.ErrorLog = testLogger{s: s, t: t}
	if s.startTLS {
		serverCfg, clientCfg, err := selfSignedTLS()
		if err != nil {
			t.Fatalf("mailtest: %v", err)
		}
		s.srv.TLSConfig, s.clientTLS = serverCfg, clientCfg
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s.host, s.port = addr.IP.String(), addr.Port
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns once Close closes the listener
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		// Close only closes listeners Serve has registered; if Serve's goroutine has not
		// got that far yet, closing ln ourselves is what makes it return.
		_ = ln.Close()
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	})
	return s
}

// Host is the address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return s.host }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.port }

// ClientTLSConfig trusts the server's certificate; nil unless WithSTARTTLS was given.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns every message received so far, in arrival order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// WaitFor returns the oldest message to the address to (case-insensitive) that an
// earlier WaitFor for that address has not returned yet, waiting up to timeout for one
// to arrive; on timeout it fails the test. Consuming messages lets a test run a flow that
// mails the same person twice (sign-up, then reset) and get each message in turn; a
// message to several recipients is returned once for each. Call it from the test's
// goroutine, as t.Fatal requires.
func (s *Server) WaitFor(t testing.TB, to string, timeout time.Duration) Received {
	t.Helper()
	want := strings.ToLower(strings.TrimSpace(to))
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for i, m := range s.msgs {
			if s.taken[i][want] {
				continue
			}
			for _, rcpt := range m.To {
				if strings.ToLower(rcpt) == want {
					s.taken[i][want] = true
					s.mu.Unlock()
					return m
				}
			}
		}
		arrived := s.arrived
		got := make([]string, 0, len(s.msgs))
		for _, m := range s.msgs {
			got = append(got, fmt.Sprintf("%v %q", m.To, m.Subject))
		}
		s.mu.Unlock()

		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("mailtest: no new message to %s within %v; received: %v", to, timeout, got)
			return Received{}
		}
	}
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	s.taken = append(s.taken, map[string]bool{})
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	se := &session{srv: s, tls: isTLS, conn: c.Conn()}
	if s.auth {
		return &authSession{se}, nil
	}
	return se, nil
}

// session collects one transaction; go-smtp calls it from the connection's goroutine only.
type session struct {
	srv  *Server
	conn net.Conn
	tls  bool
	user string
	from string
	to   []string
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.srv.auth && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.srv.mu.Lock()
	refuse := se.srv.refuse
	if refuse {
		se.srv.refused++
	}
	se.srv.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailtest: try again later"}
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.srv.mu.Lock()
	unknown := se.srv.unknown
	se.srv.mu.Unlock()
	if unknown {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + to + ">: Recipient address rejected: User unknown in local recipient table"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec, err := parse(raw)
	if err != nil {
		// Refusing the message makes a malformed one fail the sender's Send, which is
		// where a test is looking.
		return &smtp.SMTPError{
			Code:         554,
			EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message:      "mailtest: cannot parse message: " + err.Error(),
		}
	}
	rec.From, rec.To, rec.Username, rec.TLS = se.from, append([]string(nil), se.to...), se.user, se.tls
	se.srv.add(rec)
	se.srv.mu.Lock()
	lose := se.srv.lose > 0
	if lose {
		se.srv.lose--
	}
	se.srv.mu.Unlock()
	if lose {
		_ = se.conn.Close() // the answer to DATA cannot be written
	}
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// authSession is a session that also offers AUTH; go-smtp advertises AUTH exactly when
// the session implements smtp.AuthSession, hence the separate type.
type authSession struct{ *session }

func (a *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (a *authSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, _ string) error {
		a.user = username
		return nil
	}), nil
}

// testLogger sends go-smtp's internal errors to the test log while the test runs.
type testLogger struct {
	s *Server
	t testing.TB
}

func (l testLogger) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l testLogger) Println(v ...any)               { l.log(fmt.Sprintln(v...)) }

func (l testLogger) log(msg string) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if !l.s.closed {
		l.t.Logf("mailtest: smtp server: %s", strings.TrimSpace(msg))
	}
}

// selfSignedTLS makes a certificate for 127.0.0.1 and localhost, valid for a day, and a
// client configuration whose only root is that certificate.
func selfSignedTLS() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("tls certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
