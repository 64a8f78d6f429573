package sqlstore

import (
	"context"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Phone numbers (issue 15). Called when a person edits their number or signs in by SMS:
// rare next to token traffic, so the statements are rebound per call like the roles'.

type phoneRow struct {
	UserID     string `db:"user_id"`
	E164       string `db:"e164"`
	VerifiedAt int64  `db:"verified_at"`
}

type phoneVerificationRow struct {
	UserID     string `db:"user_id"`
	E164       string `db:"e164"`
	CodeHash   string `db:"code_hash"`
	Attempts   int    `db:"attempts"`
	Sends      int    `db:"sends"`
	CreatedAt  int64  `db:"created_at"`
	LastSentAt int64  `db:"last_sent_at"`
	ExpiresAt  int64  `db:"expires_at"`
}

func msTime(v int64) time.Time { return time.UnixMilli(v).UTC() }

// GetPhone returns the person's verified number.
func (d *DB) GetPhone(ctx context.Context, userID string) (*storage.Phone, error) {
	var r phoneRow
	if err := d.get(ctx, &r, d.rb(`SELECT user_id, e164, verified_at FROM phones WHERE user_id = ?`), userID); err != nil {
		return nil, d.wrap(err, "get phone of %q", userID)
	}
	return &storage.Phone{UserID: r.UserID, E164: r.E164, VerifiedAt: msTime(r.VerifiedAt)}, nil
}

// UserByPhone returns the account holding the verified number.
func (d *DB) UserByPhone(ctx context.Context, e164 string) (string, error) {
	var id string
	if err := d.get(ctx, &id, d.rb(`SELECT user_id FROM phones WHERE e164 = ?`), e164); err != nil {
		return "", d.wrap(err, "user by phone")
	}
	return id, nil
}

// DeletePhone removes the number and the pending verification together.
func (d *DB) DeletePhone(ctx context.Context, userID string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, tx.rb(`DELETE FROM phone_verifications WHERE user_id = ?`), userID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, tx.rb(`DELETE FROM phones WHERE user_id = ?`), userID)
		return err
	})
	return d.wrap(d.durable(ctx, err), "delete phone of %q", userID)
}

// PutPhoneVerification replaces the person's pending verification.
func (d *DB) PutPhoneVerification(ctx context.Context, v *storage.PhoneVerification) error {
	_, err := d.exec(ctx, d.rb(`INSERT INTO phone_verifications
		(user_id, e164, code_hash, attempts, sends, created_at, last_sent_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET e164 = excluded.e164, code_hash = excluded.code_hash,
		attempts = excluded.attempts, sends = excluded.sends, created_at = excluded.created_at,
		last_sent_at = excluded.last_sent_at, expires_at = excluded.expires_at`),
		v.UserID, v.E164, v.CodeHash, v.Attempts, v.Sends, v.CreatedAt.UnixMilli(), v.LastSentAt.UnixMilli(), v.ExpiresAt.UnixMilli())
	return d.wrap(err, "put phone verification of %q", v.UserID)
}

// GetPhoneVerification returns the pending verification.
func (d *DB) GetPhoneVerification(ctx context.Context, userID string) (*storage.PhoneVerification, error) {
	var r phoneVerificationRow
	if err := d.get(ctx, &r, d.rb(`SELECT user_id, e164, code_hash, attempts, sends, created_at, last_sent_at, expires_at
		FROM phone_verifications WHERE user_id = ?`), userID); err != nil {
		return nil, d.wrap(err, "get phone verification of %q", userID)
	}
	return &storage.PhoneVerification{UserID: r.UserID, E164: r.E164, CodeHash: r.CodeHash, Attempts: r.Attempts,
		Sends: r.Sends, CreatedAt: msTime(r.CreatedAt), LastSentAt: msTime(r.LastSentAt), ExpiresAt: msTime(r.ExpiresAt)}, nil
}

// CountPhoneAttempt spends one guess in a single guarded UPDATE.
func (d *DB) CountPhoneAttempt(ctx context.Context, userID string, max int, now time.Time) error {
	err := one(d.exec(ctx, d.rb(`UPDATE phone_verifications SET attempts = attempts + 1
		WHERE user_id = ? AND attempts < ? AND expires_at > ?`), userID, max, now.UnixMilli()))
	return d.wrap(err, "count phone attempt of %q", userID)
}

// ConfirmPhone moves the verified number into phones. The DELETE that matches the code hash
// is the single-use check: of two racing confirmations one deletes the row.
func (d *DB) ConfirmPhone(ctx context.Context, userID, codeHash string, now time.Time) (*storage.Phone, error) {
	p := &storage.Phone{UserID: userID, VerifiedAt: now.UTC().Truncate(time.Millisecond)}
	err := d.inTx(ctx, func(tx *DB) error {
		var e164 string
		if err := tx.get(ctx, &e164, tx.rb(`SELECT e164 FROM phone_verifications
			WHERE user_id = ? AND code_hash = ? AND expires_at > ?`), userID, codeHash, now.UnixMilli()); err != nil {
			return err
		}
		if err := one(tx.exec(ctx, tx.rb(`DELETE FROM phone_verifications WHERE user_id = ? AND code_hash = ?`), userID, codeHash)); err != nil {
			return err
		}
		p.E164 = e164
		_, err := tx.exec(ctx, tx.rb(`INSERT INTO phones (user_id, e164, verified_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET e164 = excluded.e164, verified_at = excluded.verified_at`),
			userID, e164, now.UnixMilli())
		return err
	})
	if err != nil {
		return nil, d.wrap(err, "confirm phone of %q", userID)
	}
	return p, nil
}
