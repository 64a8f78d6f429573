package sessions_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// clock is a settable wall clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newStore(t *testing.T) storage.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newService(t *testing.T, st storage.Store) (*sessions.Service, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &sessions.Service{Store: st, TTL: 24 * time.Hour, Idle: 2 * time.Hour, Now: c.now}, c
}

func addUser(t *testing.T, st storage.Store, id, status string) {
	t.Helper()
	if err := st.CreateUser(t.Context(), &storage.User{ID: id, Email: id + "@example.com",
		EmailNormalized: id + "@example.com", Status: status}); err != nil {
		t.Fatal(err)
	}
}

// addGrant gives the user a grant with a refresh token for a fresh client.
func addGrant(t *testing.T, st storage.Store, id, userID string, now time.Time) {
	t.Helper()
	ctx := t.Context()
	if err := st.CreateClient(ctx, &storage.Client{ID: "c-" + id, Name: "C", Type: storage.ClientPublic}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateGrant(ctx, &storage.Grant{ID: id, UserID: userID, ClientID: "c-" + id, CreatedAt: now, LastUsedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "r-" + id, Hash: "h-" + id, GrantID: id,
		ClientID: "c-" + id, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, s *sessions.Service, userID string, replaces *storage.Session) (*storage.Session, string) {
	t.Helper()
	sess, token, err := s.Start(t.Context(), sessions.Start{UserID: userID, AMR: []string{"pwd"}, ACR: "urn:pwd",
		UserAgent: strings.Repeat("x", 300), IP: "192.0.2.1", Replaces: replaces})
	if err != nil {
		t.Fatal(err)
	}
	return sess, token
}

func TestStartAndResolve(t *testing.T) {
	st := newStore(t)
	s, c := newService(t, st)
	addUser(t, st, "u1", storage.UserActive)
	sess, token := start(t, s, "u1", nil)
	if len(sess.UserAgent) != 256 {
		t.Errorf("user agent kept %d bytes, want 256", len(sess.UserAgent))
	}
	if want := c.t.Add(24 * time.Hour); !sess.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", sess.ExpiresAt, want)
	}
	got, u, err := s.Resolve(t.Context(), token)
	if err != nil || got.ID != sess.ID || u.ID != "u1" {
		t.Fatalf("Resolve = %v, %v, %v; want session %s of u1", got, u, err, sess.ID)
	}

	// A new sign-in in the same browser gets a new id and secret; the old one is dead.
	next, token2 := start(t, s, "u1", sess)
	if next.ID == sess.ID || token2 == token {
		t.Fatal("sign-in reused the session id or secret")
	}
	if _, _, err := s.Resolve(t.Context(), token); !errors.Is(err, sessions.ErrNoSession) {
		t.Errorf("replaced session resolves: %v", err)
	}
	if _, _, err := s.Resolve(t.Context(), token2); err != nil {
		t.Errorf("new session: %v", err)
	}
}

func TestResolveRefuses(t *testing.T) {
	st := newStore(t)
	s, c := newService(t, st)
	addUser(t, st, "u1", storage.UserActive)
	_, token := start(t, s, "u1", nil)
	ctx := t.Context()

	for _, bad := range []string{"", "short", strings.Repeat("a", 65), strings.Repeat("a", 40)} {
		if _, _, err := s.Resolve(ctx, bad); !errors.Is(err, sessions.ErrNoSession) {
			t.Errorf("Resolve(%q) = %v, want ErrNoSession", bad, err)
		}
	}

	// Activity within the idle limit keeps the session; the touch is recorded.
	c.t = c.t.Add(90 * time.Minute)
	sess, _, err := s.Resolve(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetSession(ctx, sess.ID)
	if err != nil || !stored.LastSeenAt.Equal(c.t) {
		t.Fatalf("last seen = %v (%v), want %v", stored.LastSeenAt, err, c.t)
	}
	// Within TouchEvery no write happens.
	c.t = c.t.Add(30 * time.Second)
	if _, _, err := s.Resolve(ctx, token); err != nil {
		t.Fatal(err)
	}
	if stored, _ := st.GetSession(ctx, sess.ID); stored.LastSeenAt.Equal(c.t) {
		t.Error("touched again within TouchEvery")
	}
	// Idle longer than Idle: gone.
	c.t = c.t.Add(2*time.Hour + time.Second)
	if _, _, err := s.Resolve(ctx, token); !errors.Is(err, sessions.ErrNoSession) {
		t.Errorf("idle session resolves: %v", err)
	}

	// An account that is no longer active has no session.
	addUser(t, st, "u2", storage.UserActive)
	_, token2 := start(t, s, "u2", nil)
	if _, err := st.UpdateUser(ctx, "u2", func(u *storage.User) error { u.Status = storage.UserLocked; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Resolve(ctx, token2); !errors.Is(err, sessions.ErrNoSession) {
		t.Errorf("locked account's session resolves: %v", err)
	}
}

// TestStorageFailuresAreNotSignedOut: a failing database is an error of ours, never "no
// session" (which would send a signed-in person to the sign-in page).
func TestStorageFailuresAreNotSignedOut(t *testing.T) {
	fs := faultstore.New(newStore(t))
	s, _ := newService(t, fs)
	addUser(t, fs, "u1", storage.UserActive)
	_, token := start(t, s, "u1", nil)
	for _, method := range []string{"GetSessionByTokenHash", "GetUser"} {
		t.Run(method, func(t *testing.T) {
			fs.Add(faultstore.Rule{Method: method, Times: 1, Err: faultstore.ErrInjected})
			_, _, err := s.Resolve(t.Context(), token)
			if err == nil || errors.Is(err, sessions.ErrNoSession) || !errors.Is(err, faultstore.ErrInjected) {
				t.Errorf("Resolve = %v, want the injected failure", err)
			}
		})
	}
	fs.Add(faultstore.Rule{Method: "RevokeUserClientGrants", Times: 1, Err: faultstore.ErrInjected})
	if err := endAll(t.Context(), fs, "u1", time.Now()); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("EndAll = %v, want the injected failure", err)
	}
	// The transaction rolled back: the session survived the failed attempt.
	if _, _, err := s.Resolve(t.Context(), token); err != nil {
		t.Errorf("session after a failed sign-out: %v", err)
	}
}

// endAll signs the user out everywhere as its callers do: EndAll in a transaction of theirs.
func endAll(ctx context.Context, st storage.Store, userID string, now time.Time) error {
	return st.InTx(ctx, func(tx storage.Store) error { return sessions.EndAll(ctx, tx, nil, userID, now) })
}

func TestSignOutEverywhere(t *testing.T) {
	st := newStore(t)
	s, c := newService(t, st)
	ctx := t.Context()
	addUser(t, st, "u1", storage.UserActive)
	addUser(t, st, "u2", storage.UserActive)
	_, tokA := start(t, s, "u1", nil)
	_, tokB := start(t, s, "u1", nil)
	_, tokOther := start(t, s, "u2", nil)
	addGrant(t, st, "g1", "u1", c.t)
	addGrant(t, st, "g2", "u2", c.t)

	if err := endAll(ctx, st, "u1", c.t); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tokA, tokB} {
		if _, _, err := s.Resolve(ctx, tok); !errors.Is(err, sessions.ErrNoSession) {
			t.Errorf("session survives sign-out everywhere: %v", err)
		}
	}
	if g, err := st.GetGrant(ctx, "g1"); err != nil || g.RevokedAt == nil {
		t.Errorf("grant g1 = %+v, %v; want revoked", g, err)
	}
	if rt, err := st.GetRefreshToken(ctx, "h-g1"); err != nil || rt.RevokedAt == nil {
		t.Errorf("refresh token of g1 = %+v, %v; want revoked", rt, err)
	}
	// Someone else is untouched.
	if _, _, err := s.Resolve(ctx, tokOther); err != nil {
		t.Errorf("other user's session: %v", err)
	}
	if g, err := st.GetGrant(ctx, "g2"); err != nil || g.RevokedAt != nil {
		t.Errorf("other user's grant = %+v, %v; want live", g, err)
	}
	// Nothing left to end is no error.
	if err := endAll(ctx, st, "u1", c.t); err != nil {
		t.Errorf("second sign-out: %v", err)
	}
}

func TestSignOutOthersKeepsThisBrowser(t *testing.T) {
	st := newStore(t)
	s, c := newService(t, st)
	ctx := t.Context()
	addUser(t, st, "u1", storage.UserActive)
	keep, tokKeep := start(t, s, "u1", nil)
	_, tokOther := start(t, s, "u1", nil)
	addGrant(t, st, "g1", "u1", c.t)

	if err := s.SignOutOthers(ctx, "u1", keep.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Resolve(ctx, tokKeep); err != nil {
		t.Errorf("kept session: %v", err)
	}
	if _, _, err := s.Resolve(ctx, tokOther); !errors.Is(err, sessions.ErrNoSession) {
		t.Errorf("other session: %v, want ErrNoSession", err)
	}
	if g, _ := st.GetGrant(ctx, "g1"); g.RevokedAt == nil {
		t.Error("grant not revoked")
	}
}

func TestRevokeAndList(t *testing.T) {
	st := newStore(t)
	s, c := newService(t, st)
	ctx := t.Context()
	addUser(t, st, "u1", storage.UserActive)
	addUser(t, st, "u2", storage.UserActive)
	a, _ := start(t, s, "u1", nil)
	c.t = c.t.Add(time.Minute)
	b, _ := start(t, s, "u1", nil)
	other, _ := start(t, s, "u2", nil)

	// Someone else's session is not found, and stays live.
	if err := s.Revoke(ctx, "u1", other.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Revoke(other's) = %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, "u1", "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, "u1", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "u1", a.ID); err != nil {
		t.Errorf("revoking again: %v", err)
	}
	live, err := s.List(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(live))
	for i, x := range live {
		ids[i] = x.ID
	}
	if !slices.Equal(ids, []string{b.ID}) {
		t.Errorf("live sessions = %v, want [%s]", ids, b.ID)
	}
	if l, _ := s.List(ctx, "u2"); len(l) != 1 {
		t.Errorf("u2 has %d live sessions, want 1", len(l))
	}
	// Expired sessions are not listed.
	c.t = c.t.Add(25 * time.Hour)
	if l, _ := s.List(ctx, "u1"); len(l) != 0 {
		t.Errorf("expired sessions listed: %d", len(l))
	}
}

// countingNotifier records what it is told.
type countingNotifier struct{ told []sessions.Ended }

func (n *countingNotifier) SessionsEnded(_ context.Context, _ storage.Store, e sessions.Ended) error {
	n.told = append(n.told, e)
	return nil
}

func (n *countingNotifier) Nudge() {}

// TestEndTellsOnce: ending a session tells its clients once, naming its person; ending it
// again (a retry whose answer was lost, a sign-out after sign-out everywhere) tells nothing
// more. Before, every End queued the logout tokens again.
func TestEndTellsOnce(t *testing.T) {
	st := newStore(t)
	s, _ := newService(t, st)
	n := &countingNotifier{}
	s.Notifier = n
	addUser(t, st, "u1", storage.UserActive)
	sess, _ := start(t, s, "u1", nil)
	for range 2 {
		if err := s.End(t.Context(), sess.ID); err != nil {
			t.Fatal(err)
		}
	}
	if len(n.told) != 1 || n.told[0].UserID != "u1" || !slices.Equal(n.told[0].Sessions, []string{sess.ID}) {
		t.Errorf("told %+v, want once about u1's session %s", n.told, sess.ID)
	}
	if err := s.End(t.Context(), "no-such-session"); err != nil || len(n.told) != 1 {
		t.Errorf("ending an unknown session: %v, told %d times", err, len(n.told))
	}
}

// TestStartWithTheSignInsID: a second step's sign-in names its session (Start.ID), so Made
// can tell later that this sign-in was done; the same sign-in completed twice (a new code
// after the first answer was lost) gets a session of its own, not a conflict.
func TestStartWithTheSignInsID(t *testing.T) {
	st := newStore(t)
	s, _ := newService(t, st)
	addUser(t, st, "u1", storage.UserActive)
	ctx := t.Context()
	if made, err := s.Made(ctx, "sign-in-1", "u1"); err != nil || made {
		t.Fatalf("Made before the sign-in = %v, %v; want false", made, err)
	}
	first, _, err := s.Start(ctx, sessions.Start{ID: "sign-in-1", UserID: "u1", AMR: []string{"pwd", "otp"}})
	if err != nil || first.ID != "sign-in-1" {
		t.Fatalf("Start with an id = %+v, %v; want session sign-in-1", first, err)
	}
	for user, want := range map[string]bool{"u1": true, "u2": false} {
		if made, err := s.Made(ctx, "sign-in-1", user); err != nil || made != want {
			t.Errorf("Made(sign-in-1, %s) = %v, %v; want %v", user, made, err, want)
		}
	}
	second, _, err := s.Start(ctx, sessions.Start{ID: "sign-in-1", UserID: "u1", AMR: []string{"pwd", "otp"}})
	if err != nil || second.ID == "sign-in-1" || second.ID == "" {
		t.Fatalf("the same sign-in completed again = %+v, %v; want a session of its own", second, err)
	}
}
