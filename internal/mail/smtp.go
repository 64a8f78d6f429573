package mail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// STARTTLS policies accepted in SMTPConfig.StartTLS.
const (
	// StartTLSMandatory refuses to send unless the server offers STARTTLS and the upgrade
	// succeeds. It never falls back to plaintext, because the messages carry credentials
	// in all but name (reset links, sign-in codes).
	StartTLSMandatory = "mandatory"
	// StartTLSOpportunistic upgrades when the server offers STARTTLS and sends in
	// plaintext otherwise. Only for servers on a trusted network.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSNone never upgrades. Only for a relay on localhost or a test server.
	StartTLSNone = "none"
)

// Defaults applied by NewSMTPSender to zero fields of SMTPConfig.
const (
	DefaultSubmissionPort = 587 // message submission (RFC 6409), used with STARTTLS
	DefaultPlainPort      = 25  // used when StartTLS is "none"
	DefaultSMTPTimeout    = 30 * time.Second
)

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	// Host is the SMTP server's host name; it is also the name its certificate must carry.
	Host string
	// Port defaults to 587, or to 25 when StartTLS is "none".
	Port int
	// Username enables SMTP AUTH when set; with an empty Username no AUTH is attempted.
	// The mechanism is negotiated (SCRAM, CRAM-MD5, PLAIN, LOGIN, strongest first); PLAIN and
	// LOGIN are refused over an unencrypted connection to anything but localhost, so a
	// password is never sent in the clear.
	Username, Password string
	// StartTLS is "mandatory" (the default when empty), "opportunistic" or "none".
	StartTLS string
	// From is the RFC 5322 sender, e.g. "MyAccount <no-reply@example.com>". Its domain also
	// names the Message-ID, as RFC 5322 recommends.
	From string
	// Timeout bounds dialling and the whole SMTP conversation of one Send; default 30s.
	Timeout time.Duration
	// TLSConfig is optional: nil verifies the server against the system roots under Host.
	// Set it to trust a private CA (its ServerName defaults to Host).
	TLSConfig *tls.Config
}

// SMTPSender delivers messages through an SMTP server, one connection per message.
//
// One connection per message keeps the sender stateless (no pool to go stale, safe for
// concurrent use) at a cost that is irrelevant at the volume of transactional mail.
type SMTPSender struct {
	host     string
	port     int
	username string
	password string
	policy   gomail.TLSPolicy
	policyNm string
	from     *netmail.Address
	idDomain string
	timeout  time.Duration
	tls      *tls.Config
}

// NewSMTPSender validates cfg and returns a sender. It does not connect: a mail server that
// is down at start-up must not keep the identity provider from starting.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	s := &SMTPSender{
		host:     strings.TrimSpace(cfg.Host),
		port:     cfg.Port,
		username: cfg.Username,
		password: cfg.Password,
		timeout:  cfg.Timeout,
	}
	if s.host == "" {
		return nil, errors.New("mail: SMTP host is required")
	}
	s.policyNm = strings.ToLower(strings.TrimSpace(cfg.StartTLS))
	switch s.policyNm {
	case "", StartTLSMandatory:
		s.policyNm, s.policy = StartTLSMandatory, gomail.TLSMandatory
	case StartTLSOpportunistic:
		s.policy = gomail.TLSOpportunistic
	case StartTLSNone:
		s.policy = gomail.NoTLS
	default:
		return nil, fmt.Errorf("mail: SMTP starttls %q: want %q, %q or %q",
			cfg.StartTLS, StartTLSMandatory, StartTLSOpportunistic, StartTLSNone)
	}
	switch {
	case s.port == 0 && s.policy == gomail.NoTLS:
		s.port = DefaultPlainPort
	case s.port == 0:
		s.port = DefaultSubmissionPort
	case s.port < 0 || s.port > 65535:
		return nil, fmt.Errorf("mail: SMTP port %d out of range", s.port)
	}
	if s.username == "" && s.password != "" {
		// Almost certainly a configuration slip; silently sending unauthenticated would
		// only surface later as a relay refusal.
		return nil, errors.New("mail: SMTP password is set but username is empty")
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("mail: SMTP timeout %v is negative", s.timeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultSMTPTimeout
	}
	if strings.TrimSpace(cfg.From) == "" {
		return nil, errors.New("mail: SMTP from address is required")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP from address %q: %w", cfg.From, err)
	}
	s.from = from
	s.idDomain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
		if s.tls.ServerName == "" {
			s.tls.ServerName = s.host
		}
		if s.tls.MinVersion == 0 {
			s.tls.MinVersion = tls.VersionTLS12
		}
	}
	return s, nil
}

// Addr is the server's host:port, for logs.
func (s *SMTPSender) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Send delivers m over a fresh connection. Cancelling ctx (or its deadline passing) aborts
// the dial or the conversation at once by closing the connection; the returned error then
// wraps ctx.Err().
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: sending to %q: %w", m.To, err)
	}
	msg, err := s.build(m)
	if err != nil {
		return err
	}

	// go-mail only uses the context for the dial; the SMTP conversation after it is bounded
	// by the timeout alone. Closing the connection when ctx ends makes every later read or
	// write fail immediately, which is what honouring ctx means here.
	var stop func() bool
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSPolicy(s.policy),
		gomail.WithDialContextFunc(dial),
	}
	if s.tls != nil {
		opts = append(opts, gomail.WithTLSConfig(s.tls.Clone()))
	}
	if s.username != "" {
		opts = append(opts,
			// Strongest first. PLAIN and LOGIN (without -NOENC) refuse to run over an
			// unencrypted connection to a remote host, so "opportunistic" cannot leak the
			// password to a server that dropped STARTTLS.
			gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.username),
			gomail.WithPassword(s.password),
		)
	}
	// A client per message: go-mail's Client holds connection state, and a fresh one keeps
	// SMTPSender free of shared mutable state.
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: SMTP client for %s: %w", s.Addr(), err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if stop != nil {
		stop()
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// What follows a closed connection (read/close errors) is noise; the cause is ctx.
			return fmt.Errorf("mail: sending to %q via %s aborted: %w", m.To, s.Addr(), cerr)
		}
		return fmt.Errorf("mail: sending to %q via %s (starttls %s): %w", m.To, s.Addr(), s.policyNm, err)
	}
	return nil
}

// build turns m into a go-mail message with the headers a receiving server expects
// (Date, Message-ID, From, To, an encoded Subject) and marks it auto-generated.
func (s *SMTPSender) build(m Message) (*gomail.Msg, error) {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("mail: recipient %q: %w", m.To, err)
	}
	if m.Text == "" && m.HTML == "" {
		return nil, fmt.Errorf("mail: message to %q has no body", m.To)
	}
	id, err := messageID(m.ID, s.idDomain)
	if err != nil {
		return nil, err
	}
	// go-mail would otherwise add a User-Agent naming the library and its version, which
	// tells nothing to the recipient and something to an attacker.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	// Subjects come from templates, but a CR or LF in one would start a new header line.
	msg.Subject(strings.Join(strings.Fields(m.Subject), " "))
	msg.SetDate()
	msg.SetMessageIDWithValue(id)
	// RFC 3834: keeps vacation responders from answering a no-reply address.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID returns the Message-ID of message id at domain: the same for every attempt of
// one message (RFC 5322 §3.6.4: a message sent again is the same message), derived by a hash
// so that the outbox's item ids are not shown; random for a message without an id.
func messageID(id, domain string) (string, error) {
	var b [20]byte
	if id != "" {
		sum := sha256.Sum256([]byte("myaccount mail message-id\x00" + id))
		copy(b[:], sum[:])
	} else if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mail: message id: %w", err)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return strings.ToLower(enc.EncodeToString(b[:])) + "@" + domain, nil
}
