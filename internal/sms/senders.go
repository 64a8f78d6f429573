package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LogSender prints messages to the log instead of sending them: the embedded default, as
// mail goes to the log until SMTP is configured.
type LogSender struct{ Logger *slog.Logger }

// Send logs m.
func (l LogSender) Send(ctx context.Context, m Message) error {
	l.Logger.InfoContext(ctx, "sms (log sender: not sent)", "id", m.ID, "to", m.To, "body", m.Body)
	return nil
}

// Webhook headers. The signature is HMAC-SHA256 over "<timestamp>.<body>" under the shared
// secret, hex, prefixed "v1=": a receiver recomputes it, compares in constant time and
// refuses an old timestamp, so a captured request cannot be replayed later.
const (
	HeaderTimestamp = "X-MyAccount-Timestamp"
	HeaderSignature = "X-MyAccount-Signature"
)

// Sign returns the signature header value of body sent at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook request's signature headers against body, allowing timestamps
// within skew of now. Receivers (and our tests) use it.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, skew time.Duration) bool {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	ts := time.Unix(sec, 0)
	if ts.Before(now.Add(-skew)) || ts.After(now.Add(skew)) {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}

// Webhook posts each message as JSON ({"id","to","body"}) to URL with a signature; any
// answer but 2xx is a failure the outbox retries (the id lets the receiver drop repeats).
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
	Now    func() time.Time
}

// Send posts m.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("sms webhook: encode: %w", err)
	}
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(w.Secret, now, body))
	return do(client(w.Client), req, "sms webhook")
}

// DefaultTwilioURL is Twilio's API base.
const DefaultTwilioURL = "https://api.twilio.com"

// Twilio sends through Twilio's Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json,
// form-encoded, HTTP basic auth with the account SID and auth token).
type Twilio struct {
	BaseURL    string // DefaultTwilioURL when empty
	AccountSID string
	AuthToken  string
	From       string // a number in E.164, or a messaging service SID (MG...)
	Client     *http.Client
}

// Send posts m to Twilio.
func (t *Twilio) Send(ctx context.Context, m Message) error {
	base := strings.TrimSuffix(t.BaseURL, "/")
	if base == "" {
		base = DefaultTwilioURL
	}
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if strings.HasPrefix(t.From, "MG") {
		form.Set("MessagingServiceSid", t.From)
	} else {
		form.Set("From", t.From)
	}
	u := base + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("sms twilio: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	return do(client(t.Client), req, "sms twilio")
}

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// do sends req and turns any answer but 2xx into an error carrying the status and the start
// of the answer (gateways explain refusals there; it holds no secret of ours).
func do(c *http.Client, req *http.Request, what string) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: status %d: %s", what, resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return nil
}
