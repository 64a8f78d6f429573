package webauthnx

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// newMFAService opens a real SQLite store with one user and returns an mfa.Service on it.
func newMFAService(t *testing.T, userIDs ...string) (*mfa.Service, storage.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "webauthn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	for _, id := range userIDs {
		u := &storage.User{ID: id, Email: id + "@example.com", EmailNormalized: id + "@example.com",
			Status: storage.UserActive, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return &mfa.Service{Store: db}, db
}

func TestStoreRoundTripAndRecord(t *testing.T) {
	ctx := context.Background()
	_, db := newMFAService(t, "alice", "bob")
	w := newRP(t)
	u := newUser("alice")
	k := newSoftKey(t)
	reg := register(t, w, u, k, true)
	now := time.Now().UTC().Truncate(time.Millisecond)
	row, err := NewMFACredential("alice", "YubiKey", reg, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateMFACredential(ctx, row); err != nil {
		t.Fatal(err)
	}
	// The same credential registered to someone else is refused by the store.
	dup, _ := NewMFACredential("bob", "stolen", reg, now)
	if err := db.CreateMFACredential(ctx, dup); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate credential id: %v, want ErrConflict", err)
	}

	loadUser := func() *User {
		t.Helper()
		rows, err := db.ListMFACredentials(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		creds, err := Credentials(rows)
		if err != nil {
			t.Fatal(err)
		}
		lu := newUser("alice")
		lu.Credentials = creds
		return lu
	}
	lu := loadUser()
	if len(lu.Credentials) != 1 || string(lu.Credentials[0].PublicKey) != string(reg.Credential.PublicKey) {
		t.Fatalf("stored credentials = %+v", lu.Credentials)
	}

	a, err := login(t, w, lu, k, browser)
	if err != nil {
		t.Fatal(err)
	}
	if err := Record(ctx, db, "alice", a, now); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := Record(ctx, db, "bob", a, now); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("Record for someone else: %v, want ErrUnknownCredential", err)
	}
	lu = loadUser()
	if got := lu.Credentials[0].Authenticator.SignCount; got != a.SignCount {
		t.Errorf("stored sign count %d, want %d", got, a.SignCount)
	}

	// The same assertion recorded twice (two racing sign-ins with one counter value): the
	// second finds the counter already there and flags the credential.
	if err := Record(ctx, db, "alice", a, now); !errors.Is(err, ErrCloned) {
		t.Errorf("second Record of one counter: %v, want ErrCloned", err)
	}
	stored, err := db.GetMFACredentialByCredentialID(ctx, k.CredID)
	if err != nil || !stored.Flagged {
		t.Fatalf("credential not flagged: %+v, %v", stored, err)
	}
	if lu = loadUser(); len(lu.Credentials) != 0 {
		t.Error("a flagged credential is still offered for sign-in")
	}

	// A stored row whose JSON and column disagree is refused.
	bad := *row
	bad.CredentialID = []byte("other")
	if _, err := Credential(&bad); err == nil {
		t.Error("credential with mismatched ids decoded")
	}
	var _ webauthn.User = lu
}

func TestStoreLookup(t *testing.T) {
	ctx := context.Background()
	_, db := newMFAService(t, "alice", "bob")
	w := newRP(t)
	now := time.Now().UTC()
	keys := map[string]*softKey{}
	for _, id := range []string{"alice", "bob"} {
		u := newUser(id)
		k := newSoftKey(t)
		row, err := NewMFACredential(id, "passkey", register(t, w, u, k, true), now)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateMFACredential(ctx, row); err != nil {
			t.Fatal(err)
		}
		keys[id] = k
	}
	lookup := StoreLookup(ctx, db)
	signIn := func(k *softKey) (*User, *Assertion, error) {
		t.Helper()
		opts, state, err := w.BeginDiscoverableLogin()
		if err != nil {
			t.Fatal(err)
		}
		return w.FinishDiscoverableLogin(state, k.Get(t, opts, browser), lookup)
	}

	who, a, err := signIn(keys["bob"])
	if err != nil {
		t.Fatalf("discoverable sign-in through the store: %v", err)
	}
	if string(who.Handle) != "bob" || who.Name != "bob@example.com" || len(who.Credentials) != 1 {
		t.Errorf("signed in %+v", who)
	}
	if err := Record(ctx, db, "bob", a, now); err != nil {
		t.Fatal(err)
	}

	stranger := newSoftKey(t)
	stranger.UserHandle = []byte("bob")
	if _, _, err := signIn(stranger); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("unregistered passkey: %v, want ErrUnknownCredential", err)
	}

	row, err := db.GetMFACredentialByCredentialID(ctx, keys["alice"].CredID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateMFACredential(ctx, row.ID, func(c *storage.MFACredential) error { c.Flagged = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := signIn(keys["alice"]); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("flagged passkey: %v, want ErrUnknownCredential", err)
	}
}
