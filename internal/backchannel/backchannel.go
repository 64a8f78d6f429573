package backchannel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// TaskKind names the outbox tasks that deliver one logout token.
const TaskKind = "backchannel_logout"

// Event is the logout token's event type (Back-Channel Logout 1.0 §2.4).
const Event = "http://schemas.openid.net/event/backchannel-logout"

// TokenType is the logout token's JWS typ (Back-Channel Logout 1.0 §2.4, explicit typing).
const TokenType = "logout+jwt"

// DefaultTokenTTL is a logout token's lifetime: it is minted at each delivery attempt, so
// it only has to outlive one request.
const DefaultTokenTTL = 2 * time.Minute

// Store is what a delivery reads (a sign-out's reads go through its transaction).
type Store interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
}

// Queue queues a task durably through a transaction's store, so that it commits with the
// sign-out, and wakes its worker after the commit (mail.Outbox).
type Queue interface {
	EnqueueIn(ctx context.Context, st storage.OutboxStore, kind string, payload []byte) error
	Nudge()
}

// KeySource hands out the active signing key of an algorithm (keys.Manager).
type KeySource interface {
	Signer(ctx context.Context, alg string) (*keys.Key, error)
}

// Service finds the clients to tell of a sign-out, queues one task per client and session,
// and delivers them.
type Service struct {
	Store  Store
	Queue  Queue
	Keys   KeySource
	Issuer string
	// Out makes the calls; nil is NewOutbound().
	Out *Outbound
	// TokenTTL is the logout token's lifetime; 0 is DefaultTokenTTL.
	TokenTTL time.Duration
	// Lost (nil: nothing) names a given-up delivery on the person it was about (GivenUp).
	Lost   func(ctx context.Context, userID, typ, clientID, detail string)
	Now    func() time.Time
	Logger *slog.Logger
}

var _ sessions.Notifier = (*Service)(nil)

// New returns a Service with its outbound client made.
func New(s Service) *Service {
	if s.Out == nil {
		s.Out = NewOutbound()
	}
	return &s
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// task is a queued delivery: who to tell, about whom. The token is minted at delivery.
type task struct {
	ClientID  string `json:"client_id"`
	Subject   string `json:"sub"`
	SessionID string `json:"sid,omitempty"`
}

// SessionsEnded queues a logout token for every client that registered a
// backchannel_logout_uri and holds a grant tied to one of the ended sessions; for a sign-out
// everywhere also for every client whose grant of the person was live (an installation has
// no session: its token names the person only). One task per client and session. It reads
// and queues through tx, the transaction that ends the sessions (sessions.Tell): the tasks
// commit with the sign-out, and any failure is returned to fail it.
func (s *Service) SessionsEnded(ctx context.Context, tx storage.Store, e sessions.Ended) error {
	if e.UserID == "" && len(e.Sessions) == 1 {
		sess, err := tx.GetSession(ctx, e.Sessions[0])
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		} else if err != nil {
			return fmt.Errorf("backchannel: session: %w", err)
		}
		e.UserID = sess.UserID
	}
	if e.UserID == "" {
		return nil
	}
	grants := e.Grants
	if grants == nil {
		var err error
		if grants, err = tx.ListGrants(ctx, e.UserID); err != nil {
			return fmt.Errorf("backchannel: grants: %w", err)
		}
	}
	ended := make(map[string]bool, len(e.Sessions))
	for _, id := range e.Sessions {
		ended[id] = true
	}
	// The clients signed in through the session kept (sign out other sessions): a token
	// naming the person alone (a device's grant has no session) would sign them out of
	// that session too (Back-Channel Logout 1.0 §2.4: sub without sid is every session of
	// the person at the client). Such a grant is revoked all the same; its client finds out
	// at its next refresh.
	keptBy := map[string]bool{}
	for _, g := range grants {
		if e.Keep != "" && g.SessionID == e.Keep && g.RevokedAt == nil && g.UserID == e.UserID {
			keptBy[g.ClientID] = true
		}
	}
	type target struct{ client, sid string }
	seen := map[target]bool{}
	clients := map[string]*storage.Client{}
	for _, g := range grants {
		switch {
		case g.UserID != e.UserID:
			continue
		case g.SessionID != "" && ended[g.SessionID]:
		case e.Everything && g.RevokedAt == nil && (g.SessionID == "" || g.SessionID != e.Keep):
		default:
			continue
		}
		t := target{g.ClientID, g.SessionID}
		if seen[t] || (t.sid == "" && keptBy[t.client]) {
			continue
		}
		seen[t] = true
		c, ok := clients[g.ClientID]
		if !ok {
			var err error
			c, err = tx.GetClient(ctx, g.ClientID)
			if errors.Is(err, storage.ErrNotFound) {
				c = nil
			} else if err != nil {
				return fmt.Errorf("backchannel: client %q: %w", g.ClientID, err)
			}
			clients[g.ClientID] = c
		}
		if c == nil || c.BackchannelLogoutURI == "" {
			continue
		}
		if t.sid == "" && c.BackchannelLogoutSessionRequired {
			// The client needs sid and this grant has no session (a device's): nothing valid
			// can be sent.
			continue
		}
		b, _ := json.Marshal(task{ClientID: c.ID, Subject: e.UserID, SessionID: t.sid})
		if err := s.Queue.EnqueueIn(ctx, tx, TaskKind, b); err != nil {
			return fmt.Errorf("backchannel: queue logout token: %w", err)
		}
	}
	return nil
}

// Nudge wakes the outbox's worker once the transaction that queued tokens committed.
func (s *Service) Nudge() { s.Queue.Nudge() }

// Deliver is the outbox task: it mints the logout token and POSTs it to the client's
// current backchannel_logout_uri. 200 and 204 are success; anything else is retried by the
// outbox with backoff. A client deleted or no longer registered for it is told nothing. A
// task that does not decode, or names no client or person, is given up at once
// (mail.ErrUndeliverable: logged and counted as every given-up item is).
func (s *Service) Deliver(ctx context.Context, payload []byte) error {
	var t task
	if err := mail.DecodeTask(TaskKind, payload, &t); err != nil {
		return err
	}
	if t.ClientID == "" || t.Subject == "" {
		return fmt.Errorf("%w: %s task names no client or no person", mail.ErrUndeliverable, TaskKind)
	}
	c, err := s.Store.GetClient(ctx, t.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("backchannel: client %q: %w", t.ClientID, err)
	}
	if c.BackchannelLogoutURI == "" {
		return nil
	}
	tok, err := s.LogoutToken(ctx, c, t.Subject, t.SessionID)
	if err != nil {
		return err
	}
	resp, err := s.Out.PostForm(ctx, c.BackchannelLogoutURI, url.Values{"logout_token": {tok}})
	if err != nil {
		return fmt.Errorf("backchannel: post to client %q: %w", c.ID, err)
	}
	if resp.Status != http.StatusOK && resp.Status != http.StatusNoContent {
		return fmt.Errorf("backchannel: client %q answered %d", c.ID, resp.Status)
	}
	s.log().InfoContext(ctx, "backchannel logout delivered", "client_id", c.ID)
	return nil
}

// LostEvent is the activity event of a logout token the outbox gave up: the app (the event's
// client) was not told that the person's session with us ended. Its detail is TaskKind.
const LostEvent = "logout_not_delivered"

// GivenUp is the outbox's mail.GivenUpFunc of TaskKind: the person the token was about gets
// a LostEvent naming the app, through Lost.
//
// The failure is the app's (its endpoint is down or refuses), and the operator sees it as
// every given-up item (logged at ERROR, counted by kind). It is named on the person too,
// because it is their security: they signed out, reset their password or said "This
// wasn't me" to end every session, and this app may still be signed in as them. The
// activity log is where they, and support, can see which app to sign out of by hand; the
// event names the app and no session, and the admin API finds an app's failures by its
// client. A person deleted meanwhile gets nothing.
func (s *Service) GivenUp(ctx context.Context, kind string, payload []byte) {
	var t task
	if s.Lost == nil || json.Unmarshal(payload, &t) != nil || t.ClientID == "" {
		return
	}
	s.Lost(ctx, t.Subject, LostEvent, t.ClientID, kind)
}

// logoutClaims are a logout token's claims (Back-Channel Logout 1.0 §2.4): never a nonce.
type logoutClaims struct {
	Issuer    string                     `json:"iss"`
	Audience  string                     `json:"aud"`
	IssuedAt  int64                      `json:"iat"`
	Expiry    int64                      `json:"exp"`
	ID        string                     `json:"jti"`
	Events    map[string]json.RawMessage `json:"events"`
	Subject   string                     `json:"sub,omitempty"`
	SessionID string                     `json:"sid,omitempty"`
}

// LogoutToken mints a logout token for client c about the person sub and the session sid
// ("" when the grant had none), signed with the key of the client's ID-token algorithm.
func (s *Service) LogoutToken(ctx context.Context, c *storage.Client, sub, sid string) (string, error) {
	alg := c.IDTokenAlg
	if alg == "" {
		alg = string(jose.RS256)
	}
	k, err := s.Keys.Signer(ctx, alg)
	if err != nil {
		return "", fmt.Errorf("backchannel: signing key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: k.JOSESigner()},
		(&jose.SignerOptions{}).WithType(TokenType).WithHeader("kid", k.ID()))
	if err != nil {
		return "", fmt.Errorf("backchannel: signer: %w", err)
	}
	ttl := s.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	now := s.now()
	body, err := json.Marshal(logoutClaims{
		Issuer: s.Issuer, Audience: c.ID, IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(),
		ID: secret.NewID(), Events: map[string]json.RawMessage{Event: json.RawMessage(`{}`)},
		Subject: sub, SessionID: sid,
	})
	if err != nil {
		return "", fmt.Errorf("backchannel: claims: %w", err)
	}
	jws, err := signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("backchannel: sign: %w", err)
	}
	return jws.CompactSerialize()
}
