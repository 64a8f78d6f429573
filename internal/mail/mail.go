// Package mail sends MyAccount's transactional email: activation links, password resets,
// security notices and sign-in codes.
//
// It is split in two so that the domain code never has to care how mail leaves the process:
// a [Renderer] turns a kind of message, a language and some [Data] into a localized
// [Message] (subject, plain text and HTML), and a [Sender] delivers it. [SMTPSender] talks
// to a real mail server; [LogSender] is the embedded default that writes the message to the
// log, so a fresh install works without any mail server at all.
//
// The package speaks no HTTP; links arrive fully formed in [Data].
package mail

import (
	"context"
	"log/slog"
)

// Message is one rendered email to one recipient.
//
// Text is always expected; HTML is optional and, when present, is sent as the preferred
// alternative of a multipart/alternative message so that clients without HTML support (and
// spam filters, which distrust HTML-only mail) still get a readable message.
type Message struct {
	// To is a single RFC 5322 address, e.g. "ada@example.com" or "Ada <ada@example.com>".
	To      string
	Subject string
	Text    string
	HTML    string
	// Kind is the kind the message was rendered as (Activation, PasswordReset, …; "" for
	// one not rendered by a Renderer). It is not sent: it names what was lost when the
	// outbox gives the message up (see GivenUpFunc).
	Kind string
	// UserID is the account the message is for, when the sender knows it; "" for none. It
	// is not sent: it names whose mail was lost when the outbox gives the message up, also
	// when To is no account's address (an email change's new address, the old one after it).
	UserID string `json:",omitempty"`
	// ID names the message across its attempts: the outbox sets it from its item, so that a
	// message sent again after its answer was lost (the relay took it, the connection broke
	// before its "250") carries the same Message-ID, and a receiver or a mail client can tell
	// the second copy for what it is. It is not stored with the message; "" sends a random one.
	ID string `json:"-"`
}

// Sender delivers a message. Implementations must honour ctx: a request that is cancelled
// must not leave a goroutine talking to a mail server.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// LogSender is the embedded default Sender: instead of delivering mail it logs the recipient,
// the subject and the full plain-text body at Info level.
//
// Logging the whole body is deliberate, not an oversight: the body carries the activation,
// password-reset or sign-in link (or code), and printing it is what makes the embedded setup
// usable without a mail server — an operator copies the link from the log. The flip side is
// that anyone who can read the log can take over the accounts it mentions, so production
// deployments must configure SMTP instead.
//
// A nil Logger means slog.Default().
type LogSender struct {
	Logger *slog.Logger
}

var (
	_ Sender = LogSender{}
	_ Sender = (*SMTPSender)(nil)
)

// Send logs m. It fails only when ctx is already done, so that callers see the same
// cancellation behaviour as with a real sender.
func (s LogSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	l.InfoContext(ctx, "mail not sent (no SMTP server configured); message follows",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
	)
	return nil
}
