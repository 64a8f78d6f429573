package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const (
	oneTimeTokenColumns = `hash, purpose, user_id, data, created_at, expires_at, used_at`
	captchaColumns      = `id, answer_hash, created_at, expires_at, used_at`
)

type oneTimeSQL struct {
	insertToken, getToken, consumeToken, deleteUserTokens, deleteUserPurposeTokens string
	insertCaptcha, getCaptcha, consumeCaptcha, releaseCaptcha                      string
}

func newOneTimeSQL(rb func(string) string) oneTimeSQL {
	return oneTimeSQL{
		insertToken: rb(`INSERT INTO one_time_tokens (` + oneTimeTokenColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		getToken:    rb(`SELECT ` + oneTimeTokenColumns + ` FROM one_time_tokens WHERE hash = ?`),
		// Single use is decided by this one statement: of concurrent consumers exactly one
		// matches used_at IS NULL.
		consumeToken: rb(`UPDATE one_time_tokens SET used_at = ?
			WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`),
		deleteUserTokens:        rb(`DELETE FROM one_time_tokens WHERE user_id = ?`),
		deleteUserPurposeTokens: rb(`DELETE FROM one_time_tokens WHERE user_id = ? AND purpose = ?`),

		insertCaptcha:  rb(`INSERT INTO captchas (` + captchaColumns + `) VALUES (?, ?, ?, ?, ?)`),
		getCaptcha:     rb(`SELECT ` + captchaColumns + ` FROM captchas WHERE id = ?`),
		consumeCaptcha: rb(`UPDATE captchas SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?`),
		releaseCaptcha: rb(`UPDATE captchas SET used_at = NULL WHERE id = ? AND used_at = ?`),
	}
}

type oneTimeTokenRow struct {
	Hash      string        `db:"hash"`
	Purpose   string        `db:"purpose"`
	UserID    string        `db:"user_id"`
	Data      string        `db:"data"`
	CreatedAt sql.NullInt64 `db:"created_at"`
	ExpiresAt sql.NullInt64 `db:"expires_at"`
	UsedAt    sql.NullInt64 `db:"used_at"`
}

type captchaRow struct {
	ID         string        `db:"id"`
	AnswerHash string        `db:"answer_hash"`
	CreatedAt  sql.NullInt64 `db:"created_at"`
	ExpiresAt  sql.NullInt64 `db:"expires_at"`
	UsedAt     sql.NullInt64 `db:"used_at"`
}

// CreateOneTimeToken stores t. A zero CreatedAt is set to now (in t as well); ExpiresAt is
// required. The user must exist; a duplicate hash is ErrConflict.
func (d *DB) CreateOneTimeToken(ctx context.Context, t *storage.OneTimeToken) error {
	t.CreatedAt = orNow(t.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.oneTime.insertToken, t.Hash, t.Purpose, t.UserID, t.Data,
		msOrNull(t.CreatedAt), msOrNull(t.ExpiresAt), msPtr(t.UsedAt))
	return d.wrap(err, "create one-time token")
}

// ConsumeOneTimeToken marks the token used and returns it. The UPDATE's WHERE clause decides
// single use, so two clicks on one link cannot both win; only when it matched nothing is the
// row read to say why. A token of another purpose is ErrNotFound, so that a reset link can
// never be used as an activation link; a used one comes back with ErrAlreadyUsed.
func (d *DB) ConsumeOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (*storage.OneTimeToken, error) {
	var out *storage.OneTimeToken
	err := d.inTx(ctx, func(tx *DB) error {
		out = nil
		ms := now.UnixMilli()
		n, err := tx.exec(ctx, tx.q.oneTime.consumeToken, ms, hash, purpose, ms)
		if err != nil {
			return err
		}
		var r oneTimeTokenRow
		if err := tx.get(ctx, &r, tx.q.oneTime.getToken, hash); err != nil {
			return err
		}
		t := &storage.OneTimeToken{Hash: r.Hash, Purpose: r.Purpose, UserID: r.UserID, Data: r.Data,
			CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt), UsedAt: fromMSPtr(r.UsedAt)}
		switch {
		case t.Purpose != purpose:
			return storage.ErrNotFound
		case n == 1:
			out = t
			return nil
		case t.UsedAt != nil:
			out = t
			return storage.ErrAlreadyUsed
		default:
			return storage.ErrExpired
		}
	})
	if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) {
		out = nil
	}
	return out, d.wrap(d.durable(ctx, err), "consume one-time token")
}

// DeleteOneTimeTokens removes the user's tokens of the purpose, or all of them when purpose
// is "" (after a password change every outstanding link must die). Deleting none is not an
// error.
func (d *DB) DeleteOneTimeTokens(ctx context.Context, userID, purpose string) error {
	var err error
	if purpose == "" {
		_, err = d.exec(ctx, d.q.oneTime.deleteUserTokens, userID)
	} else {
		_, err = d.exec(ctx, d.q.oneTime.deleteUserPurposeTokens, userID, purpose)
	}
	return d.wrap(d.durable(ctx, err), "delete one-time tokens of %q", userID)
}

// CreateCaptcha stores c. A zero CreatedAt is set to now (in c as well); a duplicate id is
// ErrConflict.
func (d *DB) CreateCaptcha(ctx context.Context, c *storage.Captcha) error {
	c.CreatedAt = orNow(c.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.oneTime.insertCaptcha, c.ID, c.AnswerHash,
		msOrNull(c.CreatedAt), msOrNull(c.ExpiresAt), msPtr(c.UsedAt))
	return d.wrap(err, "create captcha %q", c.ID)
}

// ConsumeCaptcha marks the captcha used and returns it, whether or not the caller's answer
// will turn out right: one challenge, one guess. Single use is decided by the UPDATE as for
// one-time tokens; a used captcha comes back with ErrAlreadyUsed.
func (d *DB) ConsumeCaptcha(ctx context.Context, id string, now time.Time) (*storage.Captcha, error) {
	var out *storage.Captcha
	err := d.inTx(ctx, func(tx *DB) error {
		out = nil
		ms := now.UnixMilli()
		n, err := tx.exec(ctx, tx.q.oneTime.consumeCaptcha, ms, id, ms)
		if err != nil {
			return err
		}
		var r captchaRow
		if err := tx.get(ctx, &r, tx.q.oneTime.getCaptcha, id); err != nil {
			return err
		}
		c := &storage.Captcha{ID: r.ID, AnswerHash: r.AnswerHash, CreatedAt: fromMS(r.CreatedAt),
			ExpiresAt: fromMS(r.ExpiresAt), UsedAt: fromMSPtr(r.UsedAt)}
		switch {
		case n == 1:
			out = c
			return nil
		case c.UsedAt != nil:
			out = c
			return storage.ErrAlreadyUsed
		default:
			return storage.ErrExpired
		}
	})
	if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) {
		out = nil
	}
	return out, d.wrap(err, "consume captcha %q", id)
}

// ReleaseCaptcha clears used_at of captcha id when it is usedAt's: only the use it gives back.
func (d *DB) ReleaseCaptcha(ctx context.Context, id string, usedAt time.Time) error {
	if _, err := d.exec(ctx, d.q.oneTime.releaseCaptcha, id, usedAt.UnixMilli()); err != nil {
		return d.wrap(err, "release captcha %q", id)
	}
	return nil
}
