package phone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// ResetStore is what the SMS password reset needs of storage besides Store.
type ResetStore interface {
	UserByPhone(ctx context.Context, e164 string) (string, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateOneTimeToken(ctx context.Context, t *storage.OneTimeToken) error
}

// Owner returns the active or pending account whose confirmed number e164 is; nil when
// there is none (the caller answers the same either way).
func (s *Service) Owner(ctx context.Context, e164 string) (*storage.User, error) {
	return owner(ctx, s.Reset, e164)
}

func owner(ctx context.Context, st ResetStore, e164 string) (*storage.User, error) {
	id, err := st.UserByPhone(ctx, e164)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("phone owner: %w", err)
	}
	u, err := st.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("phone owner: %w", err)
	}
	if !u.MayResetPassword() {
		return nil, nil
	}
	return u, nil
}

// ResetTokenTTL is how long the reset token a right code turns into works: the person is
// sent on to the reset page with it at once.
const ResetTokenTTL = 15 * time.Minute

// RedeemReset checks and spends the password-reset code typed for the number e164 and
// exchanges it for a reset token (storage.TokenReset, stored hashed): the same token a reset
// mail carries, so the reset itself follows the one set of rules. The check and its limits
// are mfa.Service.VerifySMSResetCode's (mfa.ErrInvalidCode, ErrTooManyAttempts,
// ErrAttemptsCapped), and the token is created in the transaction that spends the code, so a
// failure of ours leaves the code unspent for the person to send again. The number must
// still be the account's the code was sent for: removed or moved since, the code resets
// nothing, is spent all the same, and is answered as a wrong one (ErrInvalidCode), which
// tells nothing of where the number went. Any other error is ours.
func (s *Service) RedeemReset(ctx context.Context, e164, code string) (string, error) {
	var tok string
	err := s.Codes.VerifySMSResetCode(ctx, e164, code, func(ctx context.Context, tx storage.Store, userID string) (err error) {
		tok, err = s.resetTokenIn(ctx, tx, e164, userID)
		return err
	})
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", mfa.ErrInvalidCode
	}
	return tok, nil
}

// resetTokenIn creates, in tx, a reset token for userID when e164 is still that account's
// number; "" when it is not.
func (s *Service) resetTokenIn(ctx context.Context, tx ResetStore, e164, userID string) (string, error) {
	u, err := owner(ctx, tx, e164)
	if err != nil || u == nil || u.ID != userID {
		return "", err
	}
	tok := secret.RandomToken(32)
	now := s.now()
	if err := tx.CreateOneTimeToken(ctx, &storage.OneTimeToken{Hash: secret.HashToken(tok), Purpose: storage.TokenReset,
		UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ResetTokenTTL)}); err != nil {
		return "", fmt.Errorf("reset token: %w", err)
	}
	return tok, nil
}

// ResetRequestTask is the outbox task of a request for an SMS reset code (StartReset); the
// server registers RunResetRequest for it.
const ResetRequestTask = "sms-reset-request"

// TaskQueue queues work for the outbox worker (mail.Outbox).
type TaskQueue interface {
	Enqueue(ctx context.Context, kind string, payload []byte) error
}

// resetRequest is the payload of a ResetRequestTask: the number typed and the request.
type resetRequest struct {
	E164 string
	IP   string
	Lang string
}

// StartReset sends a password-reset code to e164 when it is an active or pending account's
// confirmed number, and nothing otherwise; the caller answers the same either way. The
// request does the same work for every number: with a queue (Queue), it only queues the
// request (one INSERT), and the worker looks the number up, stores the code and sends it
// (RunResetRequest). Done in the request, the look-up of the account and the code's
// transaction made a number with an account slower to answer than one without. ip and lang
// are the request's (the limits, the language when the account has none). An error is one
// every number meets alike (the queue), for the caller to answer "try again".
func (s *Service) StartReset(ctx context.Context, e164, ip, lang string) error {
	r := resetRequest{E164: e164, IP: ip, Lang: lang}
	if s.Queue == nil {
		return s.sendReset(ctx, r) // no queue (unit tests): at once
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sms reset request: %w", err)
	}
	if err := s.Queue.Enqueue(ctx, ResetRequestTask, b); err != nil {
		return fmt.Errorf("queue sms reset request: %w", err)
	}
	return nil
}

// RunResetRequest is the outbox worker's half of StartReset. An error (the database, the
// outbox) makes the worker retry it later; a send the SMS limits refuse is not retried.
func (s *Service) RunResetRequest(ctx context.Context, payload []byte) error {
	var r resetRequest
	if err := mail.DecodeTask(ResetRequestTask, payload, &r); err != nil {
		return err // given up at once
	}
	return s.sendReset(ctx, r)
}

// sendReset sends a reset code to r's number when it has an owner: the code replaces the
// owner's pending reset code only if it is sent (a refused or failed send leaves the one
// they have working), and its hash is bound to the number (mfa.VerifySMSResetCode).
func (s *Service) sendReset(ctx context.Context, r resetRequest) error {
	u, err := s.Owner(ctx, r.E164)
	if err != nil || u == nil {
		return err
	}
	lang := u.Locale
	if lang == "" {
		lang = r.Lang
	}
	err = s.sendStored(ctx, Code{UserID: u.ID, IP: r.IP, To: r.E164, Lang: lang, Purpose: PurposeReset,
		Expires: s.now().Add(mfa.EmailCodeTTL)}, storage.TokenSMSReset)
	if errors.Is(err, ErrRefused) {
		return nil // counted by the sender; the person is never told
	}
	if err != nil {
		return fmt.Errorf("send sms reset code: %w", err)
	}
	return nil
}
