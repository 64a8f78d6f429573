package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// ResetRequestTask is the outbox task of a password-reset request (see StartReset); the
// server registers RunResetRequest for it.
const ResetRequestTask = "reset-request"

// TaskQueue is a Mailer that can also queue work for its worker (mail.Outbox).
type TaskQueue interface {
	Enqueue(ctx context.Context, kind string, payload []byte) error
}

// enqueue queues v, as JSON, as a task of kind (the queue seals it at rest).
func enqueue(ctx context.Context, q TaskQueue, kind string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("queue %s: %w", kind, err)
	}
	if err := q.Enqueue(ctx, kind, b); err != nil {
		return fmt.Errorf("queue %s: %w", kind, err)
	}
	return nil
}

// decode is the worker's read of a task enqueue queued; a payload that does not decode is
// mail.ErrUndeliverable, given up at once.
func decode[T any](kind string, payload []byte) (T, error) {
	var v T
	err := mail.DecodeTask(kind, payload, &v)
	return v, err
}

// resetRequest is the payload of a ResetRequestTask (and of an ActivationRequestTask): the
// address as typed and the request.
type resetRequest struct {
	Email string
	Meta  Meta
}

// StartReset mails a password-reset link when the email has an account. The caller shows the
// same page whether or not it does, and the request does the same work either way: when Mail
// is an outbox, it only queues the request (one INSERT), and the worker looks the address
// up, issues the link and sends it. Looking up and mailing inside the request made its
// timing tell registered addresses apart. With an outbox, an error (the limit counter, the
// queue) is one every address meets alike, for the caller to answer "try again".
func (s *Service) StartReset(ctx context.Context, email string, m Meta) (err error) {
	norm := NormalizeEmail(email)
	ok, settle, err := s.allowMail(ctx, "reset", norm, m.IP)
	if err != nil || !ok {
		return err
	}
	defer func() { err = settle(err) }()
	q, ok := s.Mail.(TaskQueue)
	if !ok {
		return s.sendReset(ctx, norm, m) // no outbox (CLI, unit tests): at once
	}
	return enqueue(ctx, q, ResetRequestTask, resetRequest{Email: email, Meta: m})
}

// RunResetRequest is the outbox worker's half of StartReset. An error (the database, the
// outbox) makes the worker retry it later.
func (s *Service) RunResetRequest(ctx context.Context, payload []byte) error {
	r, err := decode[resetRequest](ResetRequestTask, payload)
	if err != nil {
		return err
	}
	return s.sendReset(ctx, NormalizeEmail(r.Email), r.Meta)
}

// sendReset issues and mails a reset link when normalized is an active or pending
// account's address (ResetLinkIn), in a transaction of its own; otherwise it sends nothing.
// A mail that could not be sent is returned (the outbox task retries it).
func (s *Service) sendReset(ctx context.Context, normalized string, m Meta) error {
	var l *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		l = nil // the transaction may run again
		u, err := tx.GetUserByEmail(ctx, normalized)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reset: look up account: %w", err)
		}
		l, err = s.ResetLinkIn(ctx, tx, u, m)
		if errors.Is(err, ErrWrongState) {
			l = nil
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return l.Committed(ctx)
}

// Reset sets a new password through a reset link. It lifts a lockout, ends every session and
// refresh token of the account, voids other reset links, and notifies the owner. A pending
// account is activated: the link proved the address. The link is used up in the same
// transaction as everything else: a failure of ours leaves it usable for a retry, and never
// half a reset (a new password with the old sessions alive and the lockout still on). A
// link used before is a *LinkUsedError while its account is active.
func (s *Service) Reset(ctx context.Context, token, password string, m Meta) (*storage.User, error) {
	if err := s.ValidatePassword(password); err != nil {
		return nil, err
	}
	// Whose link it is, without using it up: the password is checked against that
	// account's address, as registration and a password change check it, and a dead link
	// costs no hash.
	email, usable, err := s.LinkEmail(ctx, token, storage.TokenReset)
	if err != nil {
		return nil, fmt.Errorf("reset: %w", err)
	}
	if !usable {
		return nil, ErrLinkInvalid
	}
	if err := s.ValidatePassword(password, email); err != nil {
		return nil, err
	}
	// Hashed before the transaction: it must not hold the database during argon2id, and a
	// server too busy to hash answers "try again" before the link is touched.
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	var u *storage.User
	var told *SentLink
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		now := s.now()
		t, err := useLinkIn(ctx, tx, "reset", token, storage.TokenReset, now)
		if err != nil {
			return err
		}
		u, err = tx.UpdateUser(ctx, t.UserID, func(x *storage.User) error {
			if !x.MayResetPassword() {
				return ErrLocked
			}
			x.PasswordHash, x.UpdatedAt = hash, now
			if x.Status == storage.UserPending {
				x.Status, x.EmailVerified, x.ActivatedAt = storage.UserActive, true, &now
			}
			return nil
		})
		if errors.Is(err, ErrLocked) {
			return ErrLocked
		}
		if err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if err := sessions.EndAll(ctx, tx, s.SignedOut, u.ID, now); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if err := voidEmailChangesIn(ctx, tx, u.ID); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if err := voidOtherLinksIn(ctx, tx, t); err != nil {
			return fmt.Errorf("reset: void other links: %w", err)
		}
		if err := unlock(ctx, tx, u); err != nil {
			return err
		}
		told, err = s.noticeIn(ctx, tx, u, u.Email, m, "password_reset", "", mail.PasswordChanged,
			mail.Data{Email: u.Email, IP: m.IP, UserAgent: m.UserAgent, Link: s.link("/forgot", nil)}, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	sessions.Told(s.SignedOut)
	_ = told.Committed(ctx) // logged; the reset stands
	return u, nil
}
