// Package sessions holds the rules of browser sign-in sessions: how one starts (always a new
// id and secret, replacing the browser's previous one), when a cookie still names a live
// session (not revoked, not expired, not idle, its account active), how often activity is
// recorded, and what "sign out everywhere" ends. The UI, the admin API and the CLI all call
// it, so each rule exists once. It knows nothing of HTTP: callers pass the cookie's value and
// set the cookie themselves.
package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// ErrNoSession means the token names no live session of an active account: the browser is
// signed out. Storage failures are never reported as ErrNoSession.
var ErrNoSession = errors.New("sessions: no live session")

// TouchEvery is how stale the recorded last activity may get before a request writes it
// again: one write a minute per session, not one per request.
const TouchEvery = time.Minute

// Token bounds: a cookie value outside them is not ours and costs no query.
const (
	minTokenLen = 32
	maxTokenLen = 64
)

// Ended is what one sign-out ended, for the clients that asked to hear of it (back-channel
// logout): which sessions, and for a sign-out everywhere the person's grants as they were
// before it revoked them.
type Ended struct {
	UserID string // "" when only the session id is known (the notifier looks it up)
	// Sessions are the ids of the sessions that ended.
	Sessions []string
	// Everything means the person's grants were revoked too; Grants are those grants as
	// read in the transaction before it revoked them (nil: the notifier reads them through
	// it), Keep the session left signed in ("" for none).
	Everything bool
	Grants     []*storage.Grant
	Keep       string
}

// Notifier queues the logout tokens of the clients to tell of ended sign-ins
// (internal/backchannel) through tx, the store of the transaction that ends them: the tasks
// commit with the sign-out or not at all, and a failure to queue them fails the sign-out
// (answered as ours, and retried), so no sign-out commits with its clients left untold.
type Notifier interface {
	SessionsEnded(ctx context.Context, tx storage.Store, e Ended) error
	// Nudge wakes the delivery once the transaction committed (the worker would not see
	// the tasks before).
	Nudge()
}

// Tell queues, through tx inside the transaction that ends them, the logout tokens for what e
// ended: every path that ends sessions or revokes a person's grants calls it (EndAll does).
// A nil n, or nothing ended, tells no one. Its error must fail the transaction.
func Tell(ctx context.Context, n Notifier, tx storage.Store, e Ended) error {
	if n == nil || (len(e.Sessions) == 0 && !e.Everything) {
		return nil
	}
	if err := n.SessionsEnded(ctx, tx, e); err != nil {
		return fmt.Errorf("tell clients (back-channel logout): %w", err)
	}
	return nil
}

// Told wakes n's delivery after the commit of a transaction that called Tell (nil n: no
// one to wake).
func Told(n Notifier) {
	if n != nil {
		n.Nudge()
	}
}

// Store is what the session rules need from storage.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateSession(ctx context.Context, s *storage.Session) error
	GetSessionByTokenHash(ctx context.Context, tokenHash string, now time.Time) (*storage.Session, error)
	GetSession(ctx context.Context, id string) (*storage.Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	RevokeSession(ctx context.Context, id string, now time.Time) error
	ListSessions(ctx context.Context, userID string) ([]*storage.Session, error)
	ListExpiredSessions(ctx context.Context, now time.Time, limit int) ([]*storage.Session, error)
	ListIdleSessions(ctx context.Context, seenBefore time.Time, limit int) ([]*storage.Session, error)
	// InTx runs fn in one transaction (storage.Store.InTx).
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// Service applies the session rules over a store.
type Service struct {
	Store Store
	// TTL is a session's lifetime from sign-in.
	TTL time.Duration
	// Idle ends a session unused for this long; 0 means no idle limit.
	Idle   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// Notifier queues the logout tokens of every session this service ends, in the
	// transaction that ends it; nil tells no one.
	Notifier Notifier
	// Factors tells Recent whether a sign-in proved the person's factors; nil: Recent
	// checks the sign-in's time alone.
	Factors Factors
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Start describes a new sign-in.
type Start struct {
	// ID is the session's id when the caller derives it from the sign-in that makes it (a
	// second step's pending sign-in), so that a repeat of that step finds the session it
	// made; "" (or an id already taken: the same pending sign-in completed twice) is a new
	// random one. It is no secret: the cookie's token is.
	ID        string
	UserID    string
	AMR       []string
	ACR       string
	UserAgent string // truncated to 256 bytes
	IP        string
	// Replaces is the browser's session before this sign-in (nil when none); it is revoked,
	// so a session planted before sign-in is worthless after it.
	Replaces *storage.Session
	// Cookie is the browser's session cookie before this sign-in ("" when none), for a
	// caller that has not read its session: the session it names is replaced like Replaces,
	// an idle one too (over for the browser, but not yet told: its clients hear of it now,
	// not when its absolute lifetime ends).
	Cookie string
	// Continues is the session this one carries on without a sign-in (nil: this is a
	// sign-in): the browser's session that a password change made from it ended with every
	// other. The new session keeps its sign-in's time, methods and end of life (AMR and ACR
	// are ignored): typing the current password is no sign-in with the person's factors, so
	// neither Recent nor an ID token's auth_time may take the change for one, and the
	// absolute lifetime runs from the sign-in.
	Continues *storage.Session
	// Also is the rest of the sign-in's writes (its activity-log event, the owner's notice,
	// the authorization request it completes), run in the session's transaction once the
	// session is stored: they commit together, in one commit, or not at all. Its error rolls
	// the session back and is returned. It runs again when the transaction is retried, so
	// it must only touch tx and reset what it sets. Nil adds nothing.
	Also func(ctx context.Context, tx storage.Store, s *storage.Session) error
}

// Start opens a new session and returns it with the secret for the browser's cookie (only
// its hash is stored). Every sign-in gets a fresh id and secret.
func (s *Service) Start(ctx context.Context, st Start) (*storage.Session, string, error) {
	var sess *storage.Session
	var token string
	told := false
	err := s.Store.InTx(ctx, func(tx storage.Store) (err error) {
		sess, token, told, err = s.start(ctx, tx, st)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("start session: %w", err)
	}
	if told {
		Told(s.Notifier)
	}
	return sess, token, nil
}

// StartIn is Start in tx, the transaction of an operation that leaves the browser this
// session (a password change ends every session and continues the browser's: Continues):
// the operation and the session commit together or not at all. The caller wakes the
// Notifier (Told) once tx committed, as for the sessions the operation ended.
func (s *Service) StartIn(ctx context.Context, tx storage.Store, st Start) (*storage.Session, string, error) {
	sess, token, _, err := s.start(ctx, tx, st)
	if err != nil {
		return nil, "", fmt.Errorf("start session: %w", err)
	}
	return sess, token, nil
}

// start stores st's session in tx; told reports that the session it replaces was ended and
// its clients are to be told. It runs again when tx is retried.
func (s *Service) start(ctx context.Context, tx storage.Store, st Start) (sess *storage.Session, token string, told bool, err error) {
	now := s.now()
	token = secret.RandomToken(32)
	sess = &storage.Session{
		ID:         secret.NewID(),
		TokenHash:  secret.HashToken(token),
		UserID:     st.UserID,
		AuthTime:   now,
		AMR:        st.AMR,
		ACR:        st.ACR,
		UserAgent:  truncate(st.UserAgent, 256),
		IP:         st.IP,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(s.TTL),
	}
	if c := st.Continues; c != nil {
		sess.AuthTime, sess.AMR, sess.ACR, sess.ExpiresAt = c.AuthTime, c.AMR, c.ACR, c.ExpiresAt
	}
	replaces := st.Replaces
	if replaces == nil && len(st.Cookie) >= minTokenLen && len(st.Cookie) <= maxTokenLen {
		old, err := tx.GetSessionByTokenHash(ctx, secret.HashToken(st.Cookie), now)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, "", false, fmt.Errorf("read previous session: %w", err)
		}
		replaces = old
	}
	if replaces != nil {
		// The browser's previous session ends: its clients hear of it like of a sign-out
		// (unless a sign-out ended it since the browser's cookie was read, and told them).
		if told, err = endOne(ctx, tx, s.Notifier, replaces.ID, now); err != nil {
			return nil, "", false, fmt.Errorf("end previous session: %w", err)
		}
	}
	if st.ID != "" {
		sess.ID = st.ID
		if _, err := tx.GetSession(ctx, st.ID); err == nil {
			sess.ID = secret.NewID()
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, "", false, fmt.Errorf("read session %s: %w", st.ID, err)
		}
	}
	if err := tx.CreateSession(ctx, sess); err != nil {
		return nil, "", false, fmt.Errorf("create session: %w", err)
	}
	if st.Also != nil {
		if err := st.Also(ctx, tx, sess); err != nil {
			return nil, "", false, err
		}
	}
	return sess, token, told, nil
}

// Resolve returns the live session the cookie token names and its account. ErrNoSession
// when there is none: unknown, revoked, expired or idle too long, or the account is no
// longer active. Activity is recorded at most every TouchEvery; a failure to record it is
// logged, not fatal.
func (s *Service) Resolve(ctx context.Context, token string) (*storage.Session, *storage.User, error) {
	if len(token) < minTokenLen || len(token) > maxTokenLen {
		return nil, nil, ErrNoSession
	}
	now := s.now()
	sess, err := s.Store.GetSessionByTokenHash(ctx, secret.HashToken(token), now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, ErrNoSession
	} else if err != nil {
		return nil, nil, fmt.Errorf("resolve session: %w", err)
	}
	if s.Idle > 0 && now.Sub(sess.LastSeenAt) > s.Idle {
		return nil, nil, ErrNoSession
	}
	u, err := s.Store.GetUser(ctx, sess.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, ErrNoSession
	} else if err != nil {
		return nil, nil, fmt.Errorf("resolve session: %w", err)
	}
	if !u.MaySignIn() {
		return nil, nil, ErrNoSession
	}
	if now.Sub(sess.LastSeenAt) > TouchEvery {
		if err := s.Store.TouchSession(ctx, sess.ID, now); err != nil {
			s.logger().WarnContext(ctx, "touch session", "err", err, "user_id", u.ID)
		} else {
			sess.LastSeenAt = now
		}
	}
	return sess, u, nil
}

// End revokes one session (signing out this browser) and queues its clients' logout tokens
// in the same transaction; ending it again is no error. An error ended nothing.
func (s *Service) End(ctx context.Context, sessionID string) error {
	now := s.now()
	var told bool
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		told, err = endOne(ctx, tx, s.Notifier, sessionID, now) // reset: a retried transaction starts again
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if told {
		Told(s.Notifier)
	}
	return nil
}

// Revoke ends the user's session sessionID. A session of someone else is as good as none:
// storage.ErrNotFound, so an id cannot be probed.
func (s *Service) Revoke(ctx context.Context, userID, sessionID string) error {
	sess, err := s.Store.GetSession(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if sess.UserID != userID {
		return fmt.Errorf("revoke session %q: %w", sessionID, storage.ErrNotFound)
	}
	return s.End(ctx, sess.ID)
}

// List returns the user's live sessions (not revoked, not expired), most recently seen first.
func (s *Service) List(ctx context.Context, userID string) ([]*storage.Session, error) {
	all, err := s.Store.ListSessions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := s.now()
	live := all[:0]
	for _, sess := range all {
		if Live(sess, now) {
			live = append(live, sess)
		}
	}
	return live, nil
}

// expiredBatch bounds one read of expired sessions.
const expiredBatch = 500

// EndExpired marks every session that reached its end of life, or fell idle (unused for
// Idle), revoked, queuing its clients' logout tokens (back-channel logout) in the same
// transaction: housekeeping runs it before the sweep, which deletes a session only once it
// is revoked (or long expired: sqlstore.UntoldSessionRetention). A session whose tokens
// could not be queued is left unrevoked and the run stops; the next run tells it. Without a
// Notifier there is no one to tell and the sessions are only revoked. It returns how many
// sessions it ended. An idle session is told when housekeeping finds it (every 10 minutes),
// or when its browser signs in again first (Start.Cookie replaces it); before, only its
// absolute end of life found it, up to TTL-Idle later.
func (s *Service) EndExpired(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	lists := []func() ([]*storage.Session, error){
		func() ([]*storage.Session, error) { return s.Store.ListExpiredSessions(ctx, now, expiredBatch) },
	}
	if s.Idle > 0 {
		lists = append(lists, func() ([]*storage.Session, error) {
			return s.Store.ListIdleSessions(ctx, now.Add(-s.Idle), expiredBatch)
		})
	}
	defer func() {
		if n > 0 {
			Told(s.Notifier)
		}
	}()
	for _, list := range lists {
		for {
			batch, err := list()
			if err != nil {
				return n, fmt.Errorf("end expired sessions: %w", err)
			}
			for _, sess := range batch {
				// Revoked with its tokens queued, or neither: the revocation is what lets
				// the sweep delete it. One gone or ended (and told) since the batch was
				// read is left.
				err := s.Store.InTx(ctx, func(tx storage.Store) error {
					_, err := endOne(ctx, tx, s.Notifier, sess.ID, now)
					return err
				})
				if err != nil {
					return n, fmt.Errorf("end expired sessions: %w", err)
				}
				n++
			}
			if len(batch) < expiredBatch {
				break
			}
		}
	}
	return n, nil
}

// endOne revokes the session id through tx and queues its clients' logout tokens (Tell), and
// reports whether it did. A session gone, or ended already (its clients told then: a retry
// whose answer was lost, a sign-out after sign-out everywhere, or one since the caller read
// it), is left as it is: revoking it again succeeds, and telling again would send a second
// logout token for the same session.
func endOne(ctx context.Context, tx storage.Store, n Notifier, id string, now time.Time) (bool, error) {
	sess, err := tx.GetSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read session: %w", err)
	}
	if sess.RevokedAt != nil {
		return false, nil
	}
	if err := tx.RevokeSession(ctx, id, now); errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return true, Tell(ctx, n, tx, Ended{UserID: sess.UserID, Sessions: []string{id}})
}

// Live reports whether the session is neither revoked nor expired at now.
func Live(sess *storage.Session, now time.Time) bool {
	return sess.RevokedAt == nil && now.Before(sess.ExpiresAt)
}

// SignOutOthers ends every browser session of the user except keepID (the browser asking
// stays signed in) and revokes every grant but those of the kept session (an
// installation's too, and those of sessions already over), in one transaction with the
// clients' logout tokens. The kept session's apps keep their tokens, as the browser keeps
// its session, and are not told (backchannel: Ended.Keep).
func (s *Service) SignOutOthers(ctx context.Context, userID, keepID string, tell func(context.Context, storage.Store) error) error {
	now := s.now()
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		ended := Ended{UserID: userID, Everything: true, Keep: keepID}
		all, err := tx.ListSessions(ctx, userID)
		if err != nil {
			return fmt.Errorf("list sessions: %w", err)
		}
		if ended.Grants, err = tx.ListGrants(ctx, userID); err != nil {
			return fmt.Errorf("list grants: %w", err)
		}
		for _, sess := range all {
			if sess.ID == keepID || !Live(sess, now) {
				continue
			}
			if err := tx.RevokeSession(ctx, sess.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("revoke session: %w", err)
			}
			ended.Sessions = append(ended.Sessions, sess.ID)
		}
		for _, g := range ended.Grants {
			if g.RevokedAt != nil || (keepID != "" && g.SessionID == keepID) {
				continue
			}
			if err := tx.RevokeGrant(ctx, g.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("revoke grant: %w", err)
			}
		}
		if tell != nil {
			// The person's activity event commits with the sign-out.
			if err := tell(ctx, tx); err != nil {
				return err
			}
		}
		return Tell(ctx, s.Notifier, tx, ended)
	})
	if err != nil {
		return fmt.Errorf("sign out others: %w", err)
	}
	Told(s.Notifier)
	return nil
}

// EndAll revokes every session and every grant of the user through tx, a transaction's
// store, at now, and queues through it the logout tokens of the clients n tells (nil: no
// one): support's and the person's "sign me out everywhere", a lock, a password change or
// reset, a deletion, each with its other changes in its transaction. The caller calls
// Told(n) once that committed; an error must fail it.
func EndAll(ctx context.Context, tx storage.Store, n Notifier, userID string, now time.Time) error {
	ended := Ended{UserID: userID, Everything: true}
	all, err := tx.ListSessions(ctx, userID)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	for _, sess := range all {
		if Live(sess, now) {
			ended.Sessions = append(ended.Sessions, sess.ID)
		}
	}
	// Read before the revocation: which grants were live names the clients to tell.
	if ended.Grants, err = tx.ListGrants(ctx, userID); err != nil {
		return fmt.Errorf("list grants: %w", err)
	}
	if err := tx.RevokeUserSessions(ctx, userID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if err := tx.RevokeUserClientGrants(ctx, userID, "", now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("revoke grants: %w", err)
	}
	return Tell(ctx, n, tx, ended)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Made reports whether session id was made for userID, ended since or not: for a sign-in
// step sent again, whose session (Start.ID) tells that it was done.
func (s *Service) Made(ctx context.Context, id, userID string) (bool, error) {
	sess, err := s.Store.GetSession(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read session %s: %w", id, err)
	}
	return sess.UserID == userID, nil
}
