package consent_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/consent"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func TestMergeAndCovers(t *testing.T) {
	req, old := []string{"openid", "email"}, []string{"email", "profile"}
	got := consent.Merge(req, old)
	if want := []string{"openid", "email", "profile"}; !slices.Equal(got, want) {
		t.Errorf("Merge = %v, want %v", got, want)
	}
	if !slices.Equal(req, []string{"openid", "email"}) || !slices.Equal(old, []string{"email", "profile"}) {
		t.Error("Merge changed its arguments")
	}
	if got := consent.Merge([]string{"a", "a"}, nil); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Merge keeps duplicates: %v", got)
	}
	tests := []struct {
		granted, wanted []string
		want            bool
	}{
		{nil, nil, true},
		{nil, []string{"openid"}, false},
		{[]string{"openid", "email"}, []string{"email"}, true},
		{[]string{"openid"}, []string{"openid", "email"}, false},
	}
	for _, tt := range tests {
		if got := consent.Covers(tt.granted, tt.wanted); got != tt.want {
			t.Errorf("Covers(%v, %v) = %v, want %v", tt.granted, tt.wanted, got, tt.want)
		}
	}
}

func newService(t *testing.T) (*consent.Service, *faultstore.Store) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com", Status: storage.UserActive}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"third", "first"} {
		if err := db.CreateClient(ctx, &storage.Client{ID: id, Name: id, Type: storage.ClientPublic, FirstParty: id == "first"}); err != nil {
			t.Fatal(err)
		}
	}
	fs := faultstore.New(db)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &consent.Service{Store: fs, Now: func() time.Time { return now }}, fs
}

func TestNeededAndAllow(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	third := &storage.Client{ID: "third"}
	first := &storage.Client{ID: "first", FirstParty: true}
	openidEmail := []string{"openid", "email"}

	need := func(c *storage.Client, scopes, prompt []string) bool {
		t.Helper()
		n, err := s.Needed(ctx, "u1", c, scopes, prompt)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if need(first, openidEmail, []string{"consent"}) {
		t.Error("a first-party client asks")
	}
	if !need(third, openidEmail, nil) {
		t.Error("no consent yet, but not asked")
	}
	if err := s.Allow(ctx, "u1", "third", openidEmail); err != nil {
		t.Fatal(err)
	}
	if need(third, []string{"openid"}, nil) {
		t.Error("asked again for allowed scopes")
	}
	if !need(third, []string{"openid"}, []string{"consent"}) {
		t.Error("prompt=consent did not ask")
	}
	if !need(third, []string{"openid", "profile"}, nil) {
		t.Error("a new scope was not asked for")
	}
	// A narrower request later keeps what was allowed before.
	if err := s.Allow(ctx, "u1", "third", []string{"openid", "profile"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Granted(ctx, "u1", "third")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"openid", "profile", "email"}; !slices.Equal(got, want) {
		t.Errorf("granted = %v, want %v", got, want)
	}
}

func TestStorageFailuresAreErrors(t *testing.T) {
	s, fs := newService(t)
	fs.Fail("GetConsent")
	if _, err := s.Needed(t.Context(), "u1", &storage.Client{ID: "third"}, []string{"openid"}, nil); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("Needed = %v, want the injected failure", err)
	}
	// Allow must not save over an earlier consent it could not read.
	if err := s.Allow(t.Context(), "u1", "third", []string{"openid"}); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("Allow = %v, want the injected failure", err)
	}
	fs.Clear()
	if got, _ := s.Granted(t.Context(), "u1", "third"); got != nil {
		t.Errorf("Allow saved despite the failed read: %v", got)
	}
}
