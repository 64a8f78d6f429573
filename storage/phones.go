package storage

import (
	"context"
	"time"
)

// Phone is a person's verified phone number (issue 15), in E.164 form ("+4930123456"). A
// number belongs to one account at a time, so that it can name the account for an SMS
// password reset.
type Phone struct {
	UserID     string
	E164       string
	VerifiedAt time.Time
}

// PhoneVerification is a number a person has asked to add and not yet confirmed: the code
// sent to it (as a keyed hash, never the code), its expiry, the wrong guesses so far and the
// sends, which space the resends further apart. A person has at most one.
type PhoneVerification struct {
	UserID     string
	E164       string
	CodeHash   string
	Attempts   int
	Sends      int
	CreatedAt  time.Time
	LastSentAt time.Time
	ExpiresAt  time.Time
}

// PhoneStore keeps phone numbers and their pending verifications.
type PhoneStore interface {
	// GetPhone returns the person's verified number; ErrNotFound when they have none.
	GetPhone(ctx context.Context, userID string) (*Phone, error)
	// UserByPhone returns the id of the account the verified number belongs to; ErrNotFound
	// when none.
	UserByPhone(ctx context.Context, e164 string) (string, error)
	// DeletePhone removes the person's number and any pending verification; removing none
	// is not an error.
	DeletePhone(ctx context.Context, userID string) error

	// PutPhoneVerification stores v as the person's pending verification, replacing any.
	PutPhoneVerification(ctx context.Context, v *PhoneVerification) error
	// GetPhoneVerification returns the pending verification; ErrNotFound when none.
	GetPhoneVerification(ctx context.Context, userID string) (*PhoneVerification, error)
	// CountPhoneAttempt adds one wrong guess in one UPDATE that only matches while attempts
	// are below max and the code is live at now, so parallel guesses cannot exceed max; it
	// returns ErrNotFound when no guess is left (or no live verification exists).
	CountPhoneAttempt(ctx context.Context, userID string, max int, now time.Time) error
	// ConfirmPhone makes the pending verification's number the person's verified number and
	// removes the verification, in one transaction; the code hash must match the stored one
	// (ErrNotFound otherwise: used, replaced or expired). A number verified by another
	// account is ErrConflict.
	ConfirmPhone(ctx context.Context, userID, codeHash string, now time.Time) (*Phone, error)
}

// One-time token purposes of codes sent by SMS (storage.OneTimeToken).
const (
	TokenSMSCode  = "sms_code"  // 6-digit sign-in code sent by SMS
	TokenSMSReset = "sms_reset" // 6-digit password reset code sent by SMS
)
