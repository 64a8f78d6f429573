package account

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/text/unicode/norm"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// StartReset mails a password-reset link when the email has an account. The caller shows the
// same page whether or not it does.
func (s *Service) StartReset(ctx context.Context, email string, m Meta) error {
	norm := NormalizeEmail(email)
	if !s.allowMail(ctx, "reset", norm, m.IP) {
		return nil
	}
	u, err := s.Store.GetUserByEmail(ctx, norm)
	if err != nil || (u.Status != storage.UserActive && u.Status != storage.UserPending) {
		return nil
	}
	tok := secret.RandomToken(32)
	now := s.now()
	if err := s.issueToken(ctx, &storage.OneTimeToken{
		Hash: secret.HashToken(tok), Purpose: storage.TokenReset, UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(s.resetTTL()),
	}); err != nil {
		return fmt.Errorf("reset token: %w", err)
	}
	s.notify(ctx, u.Email, userLang(u, m), mail.PasswordReset, mail.Data{
		Email: u.Email, Link: s.link("/reset", url.Values{"token": {tok}}), ValidFor: s.resetTTL(),
		IP: m.IP, UserAgent: m.UserAgent,
	})
	s.audit(ctx, u.ID, "reset_requested", m, "")
	return nil
}

// Reset sets a new password through a reset link. It lifts a lockout, ends every session and
// refresh token of the account, voids other reset links, and notifies the owner. A pending
// account is activated: the link proved the address.
func (s *Service) Reset(ctx context.Context, token, password string, m Meta) (*storage.User, error) {
	if err := s.ValidatePassword(password); err != nil {
		return nil, err
	}
	// The hashing slot is taken before the link is consumed: a server too busy to hash
	// must answer "try again" and leave the link usable, not spend it.
	release, err := s.hashSlot(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.Store.ConsumeOneTimeToken(ctx, secret.HashToken(token), storage.TokenReset, s.now())
	if err != nil {
		release()
		return nil, linkError("reset", err)
	}
	hash, err := secret.HashPassword(norm.NFC.String(password))
	release()
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	now := s.now()
	u, err := s.Store.UpdateUser(ctx, t.UserID, func(x *storage.User) error {
		if x.Status == storage.UserLocked || x.Status == storage.UserDisabled {
			return ErrLocked
		}
		x.PasswordHash, x.UpdatedAt = hash, now
		if x.Status == storage.UserPending {
			x.Status, x.EmailVerified, x.ActivatedAt = storage.UserActive, true, &now
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("reset: %w", err)
	}
	if err := s.endEverything(ctx, u.ID); err != nil {
		return nil, err
	}
	_ = s.Store.DeleteOneTimeTokens(ctx, u.ID, storage.TokenReset)
	if err := s.Unlock(ctx, u); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, "password_reset", m, "")
	s.notify(ctx, u.Email, userLang(u, m), mail.PasswordChanged, mail.Data{Email: u.Email, IP: m.IP, UserAgent: m.UserAgent, Link: s.link("/forgot", nil)})
	return u, nil
}

// endEverything revokes every browser session and every grant (refresh and access tokens).
func (s *Service) endEverything(ctx context.Context, userID string) error {
	now := s.now()
	if err := s.Store.RevokeUserSessions(ctx, userID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if err := s.Store.RevokeUserClientGrants(ctx, userID, "", now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("revoke grants: %w", err)
	}
	return nil
}
