package account

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// "This wasn't me": every security notice (password or address changed, a factor added or
// removed, a failed second step, a sign-in code for a new browser) carries a single-use link.
// Confirmed on its page, it locks the account down (see NotMe) and mails a reset link.

// notMeTTL is how long a notice's link works: people read such mail late, and an intruder
// is not stopped by a link that died before its owner saw it.
const notMeTTL = 7 * 24 * time.Hour

// notice sends a security notice to u (at to) with a "This wasn't me" link in it. restore,
// for an email-change notice, is the previous address: that link puts it back. Each notice
// gets its own token, and older ones stay valid: an intruder must not void the owner's link
// by causing another notice. A token that cannot be stored costs the link, not the notice.
func (s *Service) notice(ctx context.Context, u *storage.User, to string, m Meta, kind string, d mail.Data, restore string) {
	if s.Mail != nil && s.Templates != nil {
		row, link := s.notMeToken(u, restore)
		if err := s.Store.CreateOneTimeToken(ctx, row); err != nil {
			s.log().WarnContext(ctx, "not-me token", "kind", kind, "err", err)
		} else {
			d.NotMeLink = link
		}
	}
	_ = s.notify(ctx, to, userLang(u, m), kind, d)
}

// noticeIn is notice through tx, the transaction of the change it tells of (a password
// changed or reset, an address changed), with the change's activity event: the event, the
// "This wasn't me" token and, with the outbox, the queued mail commit with the change or
// not at all, so that no such change goes untold. (Apart, a failure after the change's
// commit lost the notice, which is how an owner learns that someone else changed their
// password.) event "" writes none (the caller records its own). Call Committed on the
// result once tx committed.
func (s *Service) noticeIn(ctx context.Context, tx storage.Store, u *storage.User, to string, m Meta, event, detail, kind string, d mail.Data, restore string) (*SentLink, error) {
	if event != "" {
		if err := s.auditIn(ctx, tx, u.ID, event, m, detail); err != nil {
			return nil, err
		}
	}
	if s.Mail != nil && s.Templates != nil {
		row, link := s.notMeToken(u, restore)
		if err := tx.CreateOneTimeToken(ctx, row); err != nil {
			return nil, fmt.Errorf("%s notice: not-me token: %w", kind, err)
		}
		d.NotMeLink = link
	}
	return s.mailIn(ctx, tx, u.ID, to, userLang(u, m), kind, d)
}

// notMeToken makes the single-use token of a notice's "This wasn't me" link: the row to
// store (its hash) and the link.
func (s *Service) notMeToken(u *storage.User, restore string) (*storage.OneTimeToken, string) {
	tok := secret.RandomToken(32)
	now := s.now()
	return &storage.OneTimeToken{
		Hash: secret.HashToken(tok), Purpose: storage.TokenNotMe, UserID: u.ID, Data: restore,
		CreatedAt: now, ExpiresAt: now.Add(notMeTTL),
	}, s.link("/not-me", url.Values{"token": {tok}})
}

// NotMeResult is what NotMe did, for the page that confirms it.
type NotMeResult struct {
	User *storage.User
	// Restored: the notice was about an email change, and the previous address is the
	// account's address again.
	Restored bool
	// ResetSent: a reset link went out (false when the account may not reset, e.g. an
	// operator locked it, or mail failed: the person can still ask at /forgot).
	ResetSent bool
}

// NotMe answers a notice's "This wasn't me" link (single use): in one transaction it
// replaces the password with a random one nobody knows (whoever changed it must not simply
// sign in again), ends every browser session, revokes every grant and token (apps and
// devices), forgets remembered browsers and voids pending email changes; a link from an
// email-change notice also puts the previous address back when it is still free. Then it
// mails a reset link to the account's address. ErrLinkInvalid for an unknown or expired
// link, a *LinkUsedError for a used one.
func (s *Service) NotMe(ctx context.Context, token string, m Meta) (*NotMeResult, error) {
	// Look before hashing: a made-up link must not cost an argon2id hash.
	if ok, err := s.LinkUsable(ctx, token, storage.TokenNotMe); err != nil {
		return nil, fmt.Errorf("not me: %w", err)
	} else if !ok {
		return nil, ErrLinkInvalid
	}
	// A real hash of a discarded secret, not an empty one: a sign-in against it takes as
	// long as any wrong password, so nothing tells such an account apart.
	hash, err := s.hashPassword(ctx, secret.RandomToken(32))
	if err != nil {
		return nil, err
	}
	res := &NotMeResult{}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		*res = NotMeResult{} // a retried transaction starts again
		now := s.now()
		t, err := useLinkIn(ctx, tx, "not me", token, storage.TokenNotMe, now)
		if err != nil {
			return err
		}
		restore := ""
		if t.Data != "" {
			// The address the notice went to proved itself by receiving the link; it comes
			// back unless another account took it meanwhile (checked first: a failed
			// statement would abort the transaction on PostgreSQL).
			norm := NormalizeEmail(t.Data)
			if _, err := tx.GetUserByEmail(ctx, norm); errors.Is(err, storage.ErrNotFound) {
				restore = t.Data
			} else if err != nil {
				return fmt.Errorf("not me: look up previous address: %w", err)
			}
		}
		u, err := tx.UpdateUser(ctx, t.UserID, func(x *storage.User) error {
			x.PasswordHash, x.UpdatedAt = hash, now
			if restore != "" && NormalizeEmail(restore) != x.EmailNormalized {
				x.Email, x.EmailNormalized, x.EmailVerified = restore, NormalizeEmail(restore), true
				res.Restored = true
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("not me: %w", err)
		}
		res.User = u
		if err := sessions.EndAll(ctx, tx, s.SignedOut, u.ID, now); err != nil {
			return fmt.Errorf("not me: %w", err)
		}
		if err := tx.DeleteTrustedBrowsers(ctx, u.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("not me: forget browsers: %w", err)
		}
		if err := voidEmailChangesIn(ctx, tx, u.ID); err != nil {
			return fmt.Errorf("not me: %w", err)
		}
		detail := ""
		if res.Restored {
			detail = "email_restored"
		}
		return s.auditIn(ctx, tx, u.ID, "not_me", m, detail)
	})
	if err != nil {
		return nil, err
	}
	u := res.User
	sessions.Told(s.SignedOut)
	if err := s.sendReset(ctx, u.EmailNormalized, m); err != nil {
		s.log().ErrorContext(ctx, "not me: reset link", "err", err)
	} else {
		res.ResetSent = u.MayResetPassword()
	}
	return res, nil
}
