package phone

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Verification limits. A code has 10^6 values; five guesses give an attacker 1 in 200,000
// per code, and the sends that may be asked for are limited too (here and in internal/sms).
const (
	CodeTTL     = 10 * time.Minute
	MaxAttempts = 5
	// MaxSends is how many codes one verification may send (the first and the resends).
	MaxSends = 5
	// FirstResendDelay is the wait before the first resend; each further resend waits
	// twice as long (30 s, 1 min, 2 min, 4 min).
	FirstResendDelay = 30 * time.Second
)

// Code purposes: what a code sent by SMS is for; the message says so.
const (
	PurposeVerify = "verify" // confirm a number added to the profile
	PurposeSignIn = "signin" // a sign-in's verification code
	PurposeReset  = "reset"  // a password reset
)

var (
	// ErrNoCode: no live code to check (none sent, expired, replaced or out of guesses).
	ErrNoCode = errors.New("phone: no code to check")
	// ErrWrongCode: the code does not match; guesses remain.
	ErrWrongCode = errors.New("phone: wrong code")
	// ErrConfirmed: a code sent to confirm a number after that number was confirmed, a
	// moment ago (confirmedAgain): the same form sent again, nothing left to confirm.
	ErrConfirmed = errors.New("phone: the number was confirmed already")
	// ErrTaken: the number is another account's verified number.
	ErrTaken = errors.New("phone: number belongs to another account")
	// ErrRefused is what a Sender's refusal (limits, countries) wraps, so that a refusal,
	// which counts as a send, is told apart from a failure of ours, which does not.
	ErrRefused = errors.New("phone: send refused")
)

// TooSoonError says a resend must wait.
type TooSoonError struct{ Wait time.Duration }

func (e *TooSoonError) Error() string { return fmt.Sprintf("phone: resend in %s", e.Wait) }

// Code is one code to send by SMS.
type Code struct {
	UserID  string
	IP      string // the client IP of the request that asked for it (for the limits)
	To      string // E.164
	Lang    string
	Code    string
	Purpose string
	Expires time.Time
}

// Sender sends codes (internal/sms). Its refusals (limits, countries) are its own error,
// which the caller shows as one generic answer, and wrap ErrRefused; any other error is a
// failure of ours and sent nothing.
type Sender interface {
	SendCode(ctx context.Context, c Code) error
	// SendCodeWith is SendCode that also runs also in the transaction of the send, first: the
	// write of the code it carries commits with its sending, so that a refused or failed send
	// replaces nothing (the sign-in and reset codes, sendStored).
	SendCodeWith(ctx context.Context, c Code, also func(context.Context, storage.Store) error) error
}

// Store is what the service needs of storage.
type Store interface {
	GetPhone(ctx context.Context, userID string) (*storage.Phone, error)
	DeletePhone(ctx context.Context, userID string) error
	PutPhoneVerification(ctx context.Context, v *storage.PhoneVerification) error
	GetPhoneVerification(ctx context.Context, userID string) (*storage.PhoneVerification, error)
	CountPhoneAttempt(ctx context.Context, userID string, max int, now time.Time) error
	ConfirmPhone(ctx context.Context, userID, codeHash string, now time.Time) (*storage.Phone, error)
	// InTx runs fn in one transaction (storage.Store.InTx): Confirm spends the guess and
	// confirms together.
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// Service verifies and keeps people's numbers.
type Service struct {
	Store Store
	// Codes stores the sign-in and reset codes it sends (SendSignInCode, the reset).
	Codes *mfa.Service
	// Reset serves the SMS password reset (reset.go); nil when it is off. Queue (nil: none)
	// takes its requests for the outbox worker.
	Reset ResetStore
	Queue TaskQueue
	SMS   Sender
	// Key keys the code hashes (subkey.PhoneCodes): a six-digit code's plain SHA-256 would
	// be reversed from a leaked database in a moment.
	Key []byte
	// Lost (nil: nothing) names a given-up reset request on its account (GivenUp).
	Lost   LostFunc
	Now    func() time.Time
	Logger *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// NewCode returns six random digits.
func NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("phone: random code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// HashCode is the stored form of a code sent for a purpose to a person: HMAC-SHA256 under
// Key, bound to both, so a hash cannot stand for another person's or purpose's code.
func (s *Service) HashCode(purpose, userID, code string) string {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(purpose + "\x00" + userID + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// State is what the profile shows: the verified number and the pending one, each nil when
// absent (an expired or exhausted pending verification is absent).
func (s *Service) State(ctx context.Context, userID string) (*storage.Phone, *storage.PhoneVerification, error) {
	p, err := s.Store.GetPhone(ctx, userID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fmt.Errorf("phone of %s: %w", userID, err)
	}
	if err != nil {
		p = nil
	}
	v, _, err := s.pending(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	if v != nil && v.Attempts >= MaxAttempts {
		v = nil
	}
	return p, v, nil
}

// pending returns the person's live (unexpired) verification, nil when there is none, even
// when its guesses are all spent: its sends and resend delay still hold until it expires, or
// spending the guesses would be a way around the delay. stored is the row as stored, live or
// not (nil when there is none), for send to put back.
func (s *Service) pending(ctx context.Context, userID string) (live, stored *storage.PhoneVerification, err error) {
	v, err := s.Store.GetPhoneVerification(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("phone verification of %s: %w", userID, err)
	}
	if !s.now().Before(v.ExpiresAt) {
		return nil, v, nil
	}
	return v, v, nil
}

// ResendWait is how long after its sends-th send a verification may send again; 0 when it
// may now, and -1 when it has sent all it may.
func ResendWait(v *storage.PhoneVerification, now time.Time) time.Duration {
	if v.Sends >= MaxSends {
		return -1
	}
	d := FirstResendDelay << max(v.Sends-1, 0)
	if w := v.LastSentAt.Add(d).Sub(now); w > 0 {
		return w
	}
	return 0
}

// Start sends a code to e164 to add or change the person's number. A live pending
// verification (of any number) keeps counting its sends, so typing the number again does
// not skip the resend delay; for the same number, with guesses left, it is nil within that
// delay, sending nothing: its code went out a moment ago. The number becomes a way to sign in and to reset the password,
// so rc, a recent sign-in, is the person's.
func (s *Service) Start(ctx context.Context, rc sessions.Recent, e164, ip, lang string) error {
	if err := rc.Check(); err != nil {
		return err
	}
	userID, now := rc.UserID(), s.now()
	prev, stored, err := s.pending(ctx, userID)
	if err != nil {
		return err
	}
	sends := 1
	if prev != nil {
		if err := waitErr(prev, now); err != nil {
			if prev.E164 == e164 && prev.Attempts < MaxAttempts {
				// The same number sent again before another code may go (the form sent
				// twice, or its answer lost): the code sent a moment ago is the answer.
				return nil
			}
			return err
		}
		sends = prev.Sends + 1
	}
	return s.send(ctx, stored, &storage.PhoneVerification{UserID: userID, E164: e164, Sends: sends, CreatedAt: now,
		LastSentAt: now, ExpiresAt: now.Add(CodeTTL)}, ip, lang)
}

// Resend sends a new code for the pending verification, once its delay has passed; the
// new code replaces the old and the guesses start again.
func (s *Service) Resend(ctx context.Context, rc sessions.Recent, ip, lang string) error {
	if err := rc.Check(); err != nil {
		return err
	}
	userID, now := rc.UserID(), s.now()
	prev, _, err := s.pending(ctx, userID)
	if err != nil {
		return err
	}
	if prev == nil || prev.Attempts >= MaxAttempts {
		return ErrNoCode
	}
	if err := waitErr(prev, now); err != nil {
		return err
	}
	return s.send(ctx, prev, &storage.PhoneVerification{UserID: userID, E164: prev.E164, Sends: prev.Sends + 1,
		CreatedAt: prev.CreatedAt, LastSentAt: now, ExpiresAt: now.Add(CodeTTL)}, ip, lang)
}

func waitErr(v *storage.PhoneVerification, now time.Time) error {
	switch w := ResendWait(v, now); {
	case w < 0:
		return &TooSoonError{Wait: v.ExpiresAt.Sub(now)}
	case w > 0:
		return &TooSoonError{Wait: w}
	}
	return nil
}

// send stores the verification with a fresh code's hash, then hands the code to the sender.
// Stored first: a code that went out can always be checked. A refused send leaves the
// stored hash, which nobody knows the code of, and counts as a send. A send that fails on
// our side (storage, the outbox) sent nothing, so it puts back prev, the row as it was (nil:
// none): the person's pending code, sends and resend delay are as before, and they may try
// again at once.
func (s *Service) send(ctx context.Context, prev, v *storage.PhoneVerification, ip, lang string) error {
	code, err := NewCode()
	if err != nil {
		return err
	}
	v.CodeHash = s.HashCode(PurposeVerify, v.UserID, code)
	if err := s.Store.PutPhoneVerification(ctx, v); err != nil {
		return fmt.Errorf("store phone verification: %w", err)
	}
	err = s.SMS.SendCode(ctx, Code{UserID: v.UserID, IP: ip, To: v.E164, Lang: lang, Code: code,
		Purpose: PurposeVerify, Expires: v.ExpiresAt})
	if err == nil || errors.Is(err, ErrRefused) {
		return err
	}
	back := prev
	if back == nil {
		// There was none: an expired row with no code is as good as none.
		back = &storage.PhoneVerification{UserID: v.UserID, E164: v.E164, CreatedAt: v.CreatedAt,
			LastSentAt: v.LastSentAt, ExpiresAt: v.LastSentAt}
	}
	if rerr := s.Store.PutPhoneVerification(ctx, back); rerr != nil {
		return errors.Join(err, fmt.Errorf("put back phone verification: %w", rerr))
	}
	return err
}

// Confirm checks code against the pending verification and, when it matches, makes its
// number the person's verified number (sign-in codes sent to the one before stop working),
// with tell (nil: none) writing the notice of it in
// the same transaction.
func (s *Service) Confirm(ctx context.Context, rc sessions.Recent, code string, tell func(context.Context, storage.Store) error) (*storage.Phone, error) {
	if err := rc.Check(); err != nil {
		return nil, err
	}
	userID, now := rc.UserID(), s.now()
	_, v, err := s.State(ctx, userID)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, s.confirmedAgain(ctx, userID, now)
	}
	// Every check spends a guess first, so parallel guesses cannot exceed the limit. The
	// guess and the confirmation are one transaction: when the confirmation fails on our
	// side, the guess is given back with it, so the right code on the last guess still works
	// on a retry. A wrong code commits its guess.
	h := s.HashCode(PurposeVerify, userID, code)
	var p *storage.Phone
	wrong := false
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		wrong, p = false, nil // a retried transaction starts again
		if err := tx.CountPhoneAttempt(ctx, userID, MaxAttempts, now); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return ErrNoCode
			}
			return fmt.Errorf("count phone attempt: %w", err)
		}
		if !hmac.Equal([]byte(h), []byte(v.CodeHash)) {
			wrong = true
			return nil
		}
		var err error
		p, err = tx.ConfirmPhone(ctx, userID, h, now)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return ErrNoCode
		case errors.Is(err, storage.ErrConflict):
			return ErrTaken
		case err != nil:
			return fmt.Errorf("confirm phone: %w", err)
		}
		if err := voidSignInCodes(ctx, tx, userID); err != nil {
			return err
		}
		if tell != nil {
			return tell(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, ErrNoCode) {
		err = s.confirmedAgain(ctx, userID, now) // a concurrent post of the form confirmed it
	}
	if err != nil {
		return nil, err
	}
	if wrong {
		return nil, ErrWrongCode
	}
	return p, nil
}

// confirmedAgain is the answer to a confirmation that finds no code: ErrConfirmed when no
// verification is stored at all and the person's number was confirmed within sessions.RepeatWindow,
// which is what the one code did that this form carries (the form sent again after its
// answer, or with it lost); ErrNoCode otherwise (an expired or spent code, a code of a newer
// number, or an old form). It tells the person only about their own number.
func (s *Service) confirmedAgain(ctx context.Context, userID string, now time.Time) error {
	if _, stored, err := s.pending(ctx, userID); err != nil {
		return err
	} else if stored != nil {
		return ErrNoCode
	}
	p, err := s.Store.GetPhone(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrNoCode
	case err != nil:
		return fmt.Errorf("phone of %s: %w", userID, err)
	case now.Sub(p.VerifiedAt) < sessions.RepeatWindow:
		return ErrConfirmed
	}
	return ErrNoCode
}

// voidSignInCodes ends the person's sign-in codes sent by SMS (SendSignInCode), through tx,
// the transaction that removes or replaces their number. A sign-in code is bound to the
// person, not to the number it went to: left alone, a code sent to a number the person has
// just removed (a lost or stolen phone) would keep working until it expired. Reset codes are
// bound to the number and die with it (RedeemReset).
func voidSignInCodes(ctx context.Context, tx storage.Store, userID string) error {
	if err := tx.DeleteOneTimeTokens(ctx, userID, storage.TokenSMSCode); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("void sms sign-in codes: %w", err)
	}
	return nil
}

// Remove deletes the person's number, any pending verification and the sign-in codes sent
// to it, with tell (nil: none) writing the notice of it in the same transaction.
func (s *Service) Remove(ctx context.Context, rc sessions.Recent, tell func(context.Context, storage.Store) error) error {
	if err := rc.Check(); err != nil {
		return err
	}
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.DeletePhone(ctx, rc.UserID()); err != nil {
			return err
		}
		if err := voidSignInCodes(ctx, tx, rc.UserID()); err != nil {
			return err
		}
		if tell != nil {
			return tell(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove phone: %w", err)
	}
	return nil
}
