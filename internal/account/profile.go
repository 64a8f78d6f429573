package account

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Profile is what a person (or an admin) may set about themselves.
type Profile struct {
	Name       string
	Country    string
	Region     string
	ZoneInfo   string
	DateFormat string
	Locale     string
}

// ProfileRules validates profile values; internal/geo implements it.
type ProfileRules interface {
	ValidCountry(code string) bool
	ValidRegion(country, region string) bool
	ValidTimeZone(name string) bool
	ValidDateFormat(id string) bool
}

// ProfileError names the fields that are wrong.
type ProfileError struct{ Fields map[string]string }

func (e *ProfileError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for f, msg := range e.Fields {
		parts = append(parts, f+": "+msg)
	}
	return "account: invalid profile: " + strings.Join(parts, "; ")
}

// Complete reports whether the profile has what sign-in requires (the country).
func Complete(u *storage.User) bool { return u.Country != "" }

// ValidateProfile checks every field and reports each problem. Country is mandatory; the
// region is mandatory where the country has regions.
func ValidateProfile(rules ProfileRules, p Profile) error {
	bad := map[string]string{}
	if p.Country == "" || !rules.ValidCountry(p.Country) {
		bad["country"] = i18n.N("Choose a country")
	} else if !rules.ValidRegion(p.Country, p.Region) {
		bad["region"] = i18n.N("Choose a region")
	}
	if p.ZoneInfo != "" && !rules.ValidTimeZone(p.ZoneInfo) {
		bad["zoneinfo"] = i18n.N("Choose a time zone")
	}
	if p.DateFormat != "" && !rules.ValidDateFormat(p.DateFormat) {
		bad["date_format"] = i18n.N("Choose a date format")
	}
	if len(p.Name) > 200 {
		bad["name"] = i18n.N("Too long")
	}
	if len(bad) > 0 {
		return &ProfileError{Fields: bad}
	}
	return nil
}

// UpdateProfile validates and stores the profile.
func (s *Service) UpdateProfile(ctx context.Context, rules ProfileRules, userID string, p Profile, m Meta) (*storage.User, error) {
	if err := ValidateProfile(rules, p); err != nil {
		return nil, err
	}
	var u *storage.User
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		u, err = tx.UpdateUser(ctx, userID, func(x *storage.User) error {
			x.Name, x.Country, x.Region, x.ZoneInfo, x.DateFormat = strings.TrimSpace(p.Name), p.Country, p.Region, p.ZoneInfo, p.DateFormat
			if p.Locale != "" {
				x.Locale = p.Locale
			}
			x.UpdatedAt = s.now()
			return nil
		})
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, userID, "profile_updated", m, "")
	})
	if err != nil {
		return nil, fmt.Errorf("update profile: %w", err)
	}
	return u, nil
}

// ChangePassword needs the current password. Every session and token of the account ends;
// the browser it was made from continues with the session then starts. ErrPasswordChanged when the
// change was made already, by this form sent before (changedTo).
//
// then (nil: none) runs in the change's transaction once every session ended: the session
// the browser the change was made from continues with (sessions.Service.StartIn), so that
// the change and that session commit together; apart, a failure between them left the
// person signed out by their own password change.
func (s *Service) ChangePassword(ctx context.Context, u *storage.User, current, next string, m Meta, then func(ctx context.Context, tx storage.Store) error) error {
	if err := s.checkPassword(ctx, u, current, m); err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			if done, cerr := s.changedTo(ctx, u, current, next, m); cerr != nil {
				return cerr
			} else if done {
				return ErrPasswordChanged
			}
		}
		return err
	}
	if err := s.ValidatePassword(next, u.Email); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, next)
	if err != nil {
		return err
	}
	// The new password and the end of every session and grant are one transaction: apart, a
	// failure between them left the new password with the old sessions live, and the retry
	// of the 503 was told its current password was wrong.
	// The notice and its activity event commit with them too (noticeIn).
	now := s.now()
	var told *SentLink
	if err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.UpdateUser(ctx, u.ID, func(x *storage.User) error {
			if x.PasswordHash != u.PasswordHash {
				// Changed since it was checked (a reset meanwhile, here or on another
				// instance): the password typed as current must still be the account's, or
				// this change would undo the reset with the password the reset replaced.
				// (A hash upgraded for the same password still matches.)
				ok, _, err := s.verifyPassword(ctx, x.PasswordHash, current, nil)
				if err != nil {
					return err
				}
				if !ok {
					return ErrInvalidCredentials
				}
			}
			x.PasswordHash, x.UpdatedAt = hash, now
			return nil
		}); err != nil {
			return err
		}
		if err := sessions.EndAll(ctx, tx, s.SignedOut, u.ID, now); err != nil {
			return err
		}
		if err := voidEmailChangesIn(ctx, tx, u.ID); err != nil {
			return err
		}
		if then != nil {
			if err := then(ctx, tx); err != nil {
				return err
			}
		}
		var err error
		told, err = s.noticeIn(ctx, tx, u, u.Email, m, "password_changed", "", mail.PasswordChanged,
			mail.Data{Email: u.Email, IP: m.IP, UserAgent: m.UserAgent, Link: s.link("/forgot", nil)}, "")
		return err
	}); errors.Is(err, ErrInvalidCredentials) {
		return err
	} else if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	sessions.Told(s.SignedOut)
	_ = told.Committed(ctx) // logged; the change stands
	return nil
}

// EmailChangeTask is the outbox task of an email change (see StartEmailChange); the server
// registers RunEmailChange for it.
const EmailChangeTask = "email-change"

// emailChangeRequest is the payload of an EmailChangeTask: whose address is to change, to
// what (canonical), and the request.
type emailChangeRequest struct {
	UserID   string
	NewEmail string
	Meta     Meta
}

// StartEmailChange mails a confirmation link to the new address; nothing changes until it is
// followed. When the new address belongs to another account, that owner gets the "someone
// tried to use your address" notice instead, and the caller shows the same page. The request
// does the same work either way: it checks the password and the limit and, when Mail is an
// outbox, only queues the rest (one INSERT), which the worker does (RunEmailChange). Done
// in the request, the link a free address gets was writes a taken one never cost, and its
// time told the signed-in person whether another account has the address. Without an
// outbox (CLI, unit tests) it is done at once.
func (s *Service) StartEmailChange(ctx context.Context, u *storage.User, password, newEmail string, m Meta) (err error) {
	if err := s.checkPassword(ctx, u, password, m); err != nil {
		return err
	}
	newEmail, err = CanonicalEmail(newEmail)
	if err != nil {
		return err
	}
	ok, settle, err := s.allowMail(ctx, "email_change", u.EmailNormalized, m.IP)
	if err != nil {
		return err
	} else if !ok {
		return ErrTooManyAttempts
	}
	defer func() { err = settle(err) }()
	r := emailChangeRequest{UserID: u.ID, NewEmail: newEmail, Meta: m}
	q, ok := s.Mail.(TaskQueue)
	if !ok {
		return s.emailChange(ctx, u, r)
	}
	return enqueue(ctx, q, EmailChangeTask, r)
}

// RunEmailChange is the outbox worker's half of StartEmailChange. An error (the database,
// the outbox) makes the worker retry it later.
func (s *Service) RunEmailChange(ctx context.Context, payload []byte) error {
	r, err := decode[emailChangeRequest](EmailChangeTask, payload)
	if err != nil {
		return err
	}
	u, err := s.Store.GetUser(ctx, r.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("email change: look up account: %w", err)
	}
	return s.emailChange(ctx, u, r)
}

// emailChange issues and mails the link of r to its new address, or, when another account
// has that address, mails its owner the notice. The link and, with the outbox, its queued
// mail commit together (linkIn): apart, a retry of the task after the mail was queued
// voided the link that mail carried and mailed a second.
func (s *Service) emailChange(ctx context.Context, u *storage.User, r emailChangeRequest) error {
	m, newEmail := r.Meta, r.NewEmail
	other, err := s.Store.GetUserByEmail(ctx, strings.ToLower(newEmail))
	if err == nil {
		if other.ID != u.ID {
			return s.notify(ctx, other.Email, userLang(other, m), mail.AlreadyRegistered, mail.Data{Email: other.Email, Link: s.link("/login", nil), ResetLink: s.link("/forgot", nil)})
		}
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		// Not "the address is free": a failed look-up must not hand out a link to an
		// address that may be another account's.
		return fmt.Errorf("email change: look up address: %w", err)
	}
	tok := secret.RandomToken(32)
	now := s.now()
	var l *SentLink
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		l, err = s.linkIn(ctx, tx, u, newEmail, &storage.OneTimeToken{
			Hash: secret.HashToken(tok), Purpose: storage.TokenEmailChange, UserID: u.ID, Data: newEmail,
			CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
		}, userLang(u, m), mail.EmailChangeVerify, mail.Data{
			Email: u.Email, NewEmail: newEmail, Link: s.link("/account/email/confirm", url.Values{"token": {tok}}),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("email change link: %w", err)
	}
	return l.Committed(ctx)
}

// ConfirmEmailChange applies a verified email change and notifies the old address. The link
// is used up in the change's own transaction: a failure of ours leaves it usable. A link
// used before is a *LinkUsedError while the account's address is still the one it confirmed.
func (s *Service) ConfirmEmailChange(ctx context.Context, token string, m Meta) (*storage.User, error) {
	var (
		u   *storage.User
		old string
	)
	var told *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		now := s.now()
		t, err := useLinkIn(ctx, tx, "confirm email change", token, storage.TokenEmailChange, now)
		if err != nil {
			return err
		}
		u, err = tx.UpdateUser(ctx, t.UserID, func(x *storage.User) error {
			old = x.Email
			x.Email, x.EmailNormalized, x.EmailVerified, x.UpdatedAt = t.Data, NormalizeEmail(t.Data), true, now
			return nil
		})
		if errors.Is(err, storage.ErrConflict) {
			return ErrLinkInvalid // taken meanwhile
		}
		if err != nil {
			return fmt.Errorf("confirm email change: %w", err)
		}
		// The old address is told in the change's transaction (noticeIn); its "This wasn't
		// me" link puts the old address back: it went there.
		told, err = s.noticeIn(ctx, tx, u, old, m, "email_changed", "", mail.EmailChanged,
			mail.Data{Email: old, NewEmail: u.Email, IP: m.IP, UserAgent: m.UserAgent}, old)
		return err
	})
	if err != nil {
		return nil, err
	}
	_ = told.Committed(ctx) // logged; the change stands
	return u, nil
}

// DeleteAccount needs the password; it removes the account and everything it owns.
func (s *Service) DeleteAccount(ctx context.Context, u *storage.User, password string, m Meta) error {
	if err := s.checkPassword(ctx, u, password, m); err != nil {
		return err
	}
	var told *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		// What the deletion signs out, told to its clients (back-channel logout).
		if err := sessions.EndAll(ctx, tx, s.SignedOut, u.ID, s.now()); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		// The goodbye (with how to get help if it was not them) commits with the deletion.
		var err error
		told, err = s.mailIn(ctx, tx, u.ID, u.Email, userLang(u, m), mail.AccountDeleted, mail.Data{Email: u.Email})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	sessions.Told(s.SignedOut)
	_ = told.Committed(ctx) // logged
	return nil
}
