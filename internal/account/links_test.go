package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// newLink stores a link of purpose for u and returns its token.
func newLink(t *testing.T, db storage.Store, u *storage.User, purpose, data string, expires time.Time) string {
	t.Helper()
	tok := secret.RandomToken(32)
	if err := db.CreateOneTimeToken(t.Context(), &storage.OneTimeToken{Hash: secret.HashToken(tok), Purpose: purpose,
		UserID: u.ID, Data: data, CreatedAt: time.Now(), ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestLinkUsedAgain: each emailed link, used a second time, is a *LinkUsedError (still
// ErrLinkInvalid) carrying what its page may say, while what the first use did stands;
// otherwise, and for an expired link, it is plain ErrLinkInvalid.
func TestLinkUsedAgain(t *testing.T) {
	const pw = "a brand new passphrase"
	use := map[string]func(ctx context.Context, s *account.Service, tok string) error{
		storage.TokenActivation: func(ctx context.Context, s *account.Service, tok string) error {
			_, _, err := s.Activate(ctx, tok, account.Meta{})
			return err
		},
		storage.TokenReset: func(ctx context.Context, s *account.Service, tok string) error {
			_, err := s.Reset(ctx, tok, pw, account.Meta{})
			return err
		},
		storage.TokenEmailChange: func(ctx context.Context, s *account.Service, tok string) error {
			_, err := s.ConfirmEmailChange(ctx, tok, account.Meta{})
			return err
		},
		storage.TokenNotMe: func(ctx context.Context, s *account.Service, tok string) error {
			_, err := s.NotMe(ctx, tok, account.Meta{})
			return err
		},
	}
	tests := []struct {
		name    string
		purpose string
		status  string
		data    string
		expired bool
		// since changes the account between the two uses.
		since func(x *storage.User)
		want  *account.LinkUsedError // nil: plain ErrLinkInvalid
	}{
		{name: "activation", purpose: storage.TokenActivation, status: storage.UserPending, data: "ar-1",
			want: &account.LinkUsedError{Purpose: storage.TokenActivation, Continue: "ar-1"}},
		{name: "activation, locked since", purpose: storage.TokenActivation, status: storage.UserPending,
			since: func(x *storage.User) { x.Status = storage.UserLocked }},
		{name: "activation, expired", purpose: storage.TokenActivation, status: storage.UserPending, expired: true},
		{name: "reset", purpose: storage.TokenReset, status: storage.UserActive,
			want: &account.LinkUsedError{Purpose: storage.TokenReset}},
		{name: "reset, disabled since", purpose: storage.TokenReset, status: storage.UserActive,
			since: func(x *storage.User) { x.Status = storage.UserDisabled }},
		{name: "reset, expired", purpose: storage.TokenReset, status: storage.UserActive, expired: true},
		{name: "email change", purpose: storage.TokenEmailChange, status: storage.UserActive, data: "Ada.New@example.com",
			want: &account.LinkUsedError{Purpose: storage.TokenEmailChange, Email: "Ada.New@example.com"}},
		{name: "email change, changed again since", purpose: storage.TokenEmailChange, status: storage.UserActive, data: "ada.new@example.com",
			since: func(x *storage.User) { x.Email, x.EmailNormalized = "ada.third@example.com", "ada.third@example.com" }},
		{name: "email change, expired", purpose: storage.TokenEmailChange, status: storage.UserActive, data: "ada.new@example.com", expired: true},
		{name: "not me", purpose: storage.TokenNotMe, status: storage.UserActive,
			want: &account.LinkUsedError{Purpose: storage.TokenNotMe}},
		{name: "not me, expired", purpose: storage.TokenNotMe, status: storage.UserActive, expired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := newService(t)
			u, err := s.Create(ctx, "ada@example.com", "correct horse battery", tt.status)
			if err != nil {
				t.Fatal(err)
			}
			expires := time.Now().Add(time.Hour)
			if tt.expired {
				expires = time.Now().Add(-time.Minute)
			}
			tok := newLink(t, db, u, tt.purpose, tt.data, expires)
			if !tt.expired {
				if err := use[tt.purpose](ctx, s, tok); err != nil {
					t.Fatalf("first use: %v", err)
				}
			}
			if tt.since != nil {
				if _, err := db.UpdateUser(ctx, u.ID, func(x *storage.User) error { tt.since(x); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			err = use[tt.purpose](ctx, s, tok)
			if !errors.Is(err, account.ErrLinkInvalid) {
				t.Fatalf("second use: %v, want ErrLinkInvalid", err)
			}
			var got *account.LinkUsedError
			errors.As(err, &got)
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("second use: %+v, want plain ErrLinkInvalid", *got)
			case tt.want != nil && (got == nil || *got != *tt.want):
				t.Errorf("second use: %v, want %+v", err, *tt.want)
			}
			// The page that opens the link (reset, not me) looks with LinkUsable.
			usable, err := s.LinkUsable(ctx, tok, tt.purpose)
			var peeked *account.LinkUsedError
			errors.As(err, &peeked)
			if usable || (tt.want == nil) != (err == nil) || (tt.want != nil && (peeked == nil || *peeked != *tt.want)) {
				t.Errorf("LinkUsable = %v, %v, want false, %v", usable, err, tt.want)
			}
		})
	}
}

// TestUsedLinkStoreFailureIsOurs: a store failure while a used link's account is looked up
// stays a failure, not a "used" or "invalid" answer.
func TestUsedLinkStoreFailureIsOurs(t *testing.T) {
	ctx := t.Context()
	_, db := newService(t)
	fs := faultstore.New(db)
	s := &account.Service{Store: fs}
	u, err := s.Create(ctx, "ada@example.com", "correct horse battery", storage.UserPending)
	if err != nil {
		t.Fatal(err)
	}
	tok := newLink(t, db, u, storage.TokenActivation, "", time.Now().Add(time.Hour))
	if _, _, err := s.Activate(ctx, tok, account.Meta{}); err != nil {
		t.Fatal(err)
	}
	fs.Fail("GetUser")
	_, _, err = s.Activate(ctx, tok, account.Meta{})
	if !errors.Is(err, faultstore.ErrInjected) || errors.Is(err, account.ErrLinkInvalid) {
		t.Errorf("second use with the store failing: %v, want the failure", err)
	}
	if _, err := s.LinkUsable(ctx, tok, storage.TokenActivation); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("LinkUsable with the store failing: %v, want the failure", err)
	}
}
