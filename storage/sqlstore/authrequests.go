package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const authRequestColumns = `id, client_id, redirect_uri, state, nonce, scopes, response_type,
	response_mode, code_challenge, code_challenge_method, prompt, max_age, ui_locales, login_hint,
	acr_values, device_name, browser_hash, user_id, session_id, auth_time, amr, acr, done,
	code_hash, code_expires_at, code_used_at, created_at, expires_at, hint_subject, device_id,
	resources`

type authRequestSQL struct {
	insert, get, getByCode, complete, rebind, saveCode, consumeCode, delete string
}

func newAuthRequestSQL(rb func(string) string) authRequestSQL {
	return authRequestSQL{
		insert: rb(`INSERT INTO auth_requests (` + authRequestColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		get:       rb(`SELECT ` + authRequestColumns + ` FROM auth_requests WHERE id = ?`),
		getByCode: rb(`SELECT ` + authRequestColumns + ` FROM auth_requests WHERE code_hash = ?`),
		// The WHERE clause is the rule: only a pending, unexpired request can be completed, and
		// only once, whatever the callers race.
		complete: rb(`UPDATE auth_requests
			SET user_id = ?, session_id = ?, auth_time = ?, amr = ?, acr = ?, done = ?
			WHERE id = ? AND done = ? AND expires_at > ?`),
		rebind: rb(`UPDATE auth_requests SET browser_hash = ?
			WHERE browser_hash = ? AND expires_at > ? AND code_hash IS NULL`),
		saveCode: rb(`UPDATE auth_requests SET code_hash = ?, code_expires_at = ?
			WHERE id = ? AND done = ? AND code_hash IS NULL`),
		// Single use is decided by this one statement: of concurrent consumers exactly one
		// matches code_used_at IS NULL.
		consumeCode: rb(`UPDATE auth_requests SET code_used_at = ?
			WHERE code_hash = ? AND code_used_at IS NULL AND code_expires_at > ?`),
		delete: rb(`DELETE FROM auth_requests WHERE id = ?`),
	}
}

// authRequestRow is the auth_requests table's shape.
type authRequestRow struct {
	ID                  string         `db:"id"`
	ClientID            string         `db:"client_id"`
	RedirectURI         string         `db:"redirect_uri"`
	State               string         `db:"state"`
	Nonce               string         `db:"nonce"`
	Scopes              string         `db:"scopes"`
	ResponseType        string         `db:"response_type"`
	ResponseMode        string         `db:"response_mode"`
	CodeChallenge       string         `db:"code_challenge"`
	CodeChallengeMethod string         `db:"code_challenge_method"`
	Prompt              string         `db:"prompt"`
	MaxAge              sql.NullInt64  `db:"max_age"`
	UILocales           string         `db:"ui_locales"`
	LoginHint           string         `db:"login_hint"`
	ACRValues           string         `db:"acr_values"`
	DeviceName          string         `db:"device_name"`
	BrowserHash         string         `db:"browser_hash"`
	UserID              sql.NullString `db:"user_id"`
	SessionID           string         `db:"session_id"`
	AuthTime            sql.NullInt64  `db:"auth_time"`
	AMR                 string         `db:"amr"`
	ACR                 string         `db:"acr"`
	Done                bool           `db:"done"`
	CodeHash            sql.NullString `db:"code_hash"`
	CodeExpiresAt       sql.NullInt64  `db:"code_expires_at"`
	CodeUsedAt          sql.NullInt64  `db:"code_used_at"`
	CreatedAt           sql.NullInt64  `db:"created_at"`
	ExpiresAt           sql.NullInt64  `db:"expires_at"`
	HintSubject         string         `db:"hint_subject"`
	DeviceID            string         `db:"device_id"`
	Resources           string         `db:"resources"`
}

func (r *authRequestRow) authRequest() (*storage.AuthRequest, error) {
	var ld listDecoder
	ar := &storage.AuthRequest{
		ID: r.ID, ClientID: r.ClientID, RedirectURI: r.RedirectURI, State: r.State, Nonce: r.Nonce,
		Scopes:       ld.list("scopes", r.Scopes),
		ResponseType: r.ResponseType, ResponseMode: r.ResponseMode,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod,
		Prompt:      ld.list("prompt", r.Prompt),
		UILocales:   ld.list("ui_locales", r.UILocales),
		LoginHint:   r.LoginHint,
		HintSubject: r.HintSubject,
		ACRValues:   ld.list("acr_values", r.ACRValues),
		DeviceName:  r.DeviceName,
		DeviceID:    r.DeviceID,
		Resources:   ld.list("resources", r.Resources),
		BrowserHash: r.BrowserHash,
		UserID:      r.UserID.String, SessionID: r.SessionID,
		AuthTime: fromMS(r.AuthTime),
		AMR:      ld.list("amr", r.AMR),
		ACR:      r.ACR, Done: r.Done,
		CodeHash: r.CodeHash.String, CodeExpiresAt: fromMS(r.CodeExpiresAt), CodeUsedAt: fromMSPtr(r.CodeUsedAt),
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt),
	}
	if r.MaxAge.Valid {
		v := r.MaxAge.Int64
		ar.MaxAge = &v
	}
	if ld.err != nil {
		return nil, ld.err
	}
	return ar, nil
}

// CreateAuthRequest inserts ar. A zero CreatedAt is set to now (in ar as well); ExpiresAt is
// required. The client must exist.
func (d *DB) CreateAuthRequest(ctx context.Context, ar *storage.AuthRequest) error {
	ar.CreatedAt = orNow(ar.CreatedAt, d.clockNow())
	var maxAge sql.NullInt64
	if ar.MaxAge != nil {
		maxAge = sql.NullInt64{Int64: *ar.MaxAge, Valid: true}
	}
	_, err := d.exec(ctx, d.q.authReqs.insert,
		ar.ID, ar.ClientID, ar.RedirectURI, ar.State, ar.Nonce, encodeList(ar.Scopes),
		ar.ResponseType, ar.ResponseMode, ar.CodeChallenge, ar.CodeChallengeMethod,
		encodeList(ar.Prompt), maxAge, encodeList(ar.UILocales), ar.LoginHint,
		encodeList(ar.ACRValues), ar.DeviceName, ar.BrowserHash, nullIfEmpty(ar.UserID),
		ar.SessionID, msOrNull(ar.AuthTime), encodeList(ar.AMR), ar.ACR, ar.Done,
		nullIfEmpty(ar.CodeHash), msOrNull(ar.CodeExpiresAt), msPtr(ar.CodeUsedAt),
		msOrNull(ar.CreatedAt), msOrNull(ar.ExpiresAt), ar.HintSubject, ar.DeviceID, encodeList(ar.Resources))
	return d.wrap(err, "create auth request %q", ar.ID)
}

// GetAuthRequest returns the request by id; ErrExpired once its ExpiresAt has passed (by the
// store's clock).
func (d *DB) GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	ar, err := d.getAuthRequest(ctx, d.q.authReqs.get, id)
	if err == nil && !ar.ExpiresAt.After(d.clockNow()) {
		ar, err = nil, storage.ErrExpired
	}
	return ar, d.wrap(err, "get auth request %q", id)
}

func (d *DB) getAuthRequest(ctx context.Context, query, arg string) (*storage.AuthRequest, error) {
	var r authRequestRow
	if err := d.get(ctx, &r, query, arg); err != nil {
		return nil, err
	}
	return r.authRequest()
}

// CompleteAuthRequest records who signed in and marks the request done. Only a request that
// exists, is not done and has not expired matches; anything else is ErrNotFound.
func (d *DB) CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error {
	err := one(d.exec(ctx, d.q.authReqs.complete,
		nullIfEmpty(userID), sessionID, msOrNull(authTime), encodeList(amr), acr, true,
		id, false, d.clockNow().UnixMilli()))
	return d.wrap(err, "complete auth request %q", id)
}

// RebindAuthRequests moves the browser's live requests (unexpired, no code yet) from oldHash
// to newHash and returns how many moved.
func (d *DB) RebindAuthRequests(ctx context.Context, oldHash, newHash string) (int64, error) {
	if oldHash == "" || newHash == "" {
		return 0, nil
	}
	n, err := d.exec(ctx, d.q.authReqs.rebind, newHash, oldHash, d.clockNow().UnixMilli())
	return n, d.wrap(err, "rebind auth requests")
}

// SaveAuthCode attaches the hash of the issued code to a done request. Unknown or not yet
// done requests are ErrNotFound; a request that already has a code, or a hash already in
// use, is ErrConflict (a request issues exactly one code).
func (d *DB) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	err := d.inTx(ctx, func(tx *DB) error {
		n, err := tx.exec(ctx, tx.q.authReqs.saveCode, codeHash, msOrNull(expiresAt), id, true)
		if err != nil || n == 1 {
			return err
		}
		ar, err := tx.getAuthRequest(ctx, tx.q.authReqs.get, id)
		switch {
		case err != nil:
			return err
		case !ar.Done:
			return storage.ErrNotFound
		default:
			return storage.ErrConflict
		}
	})
	return d.wrap(err, "save auth code for %q", id)
}

// GetAuthRequestByCode returns the request holding the code, whatever the code's state (the
// caller checks CodeUsedAt and CodeExpiresAt); ErrNotFound when none does.
func (d *DB) GetAuthRequestByCode(ctx context.Context, codeHash string) (*storage.AuthRequest, error) {
	ar, err := d.getAuthRequest(ctx, d.q.authReqs.getByCode, codeHash)
	return ar, d.wrap(err, "get auth request by code")
}

// ConsumeAuthCode marks the code used and returns its request. The UPDATE's WHERE clause
// decides single use in the database, so concurrent exchanges of one code cannot both win;
// only when it matched nothing is the row read to say why. A reused code returns the request
// with ErrAlreadyUsed so the caller can revoke what the first exchange issued.
func (d *DB) ConsumeAuthCode(ctx context.Context, codeHash string, now time.Time) (*storage.AuthRequest, error) {
	var out *storage.AuthRequest
	err := d.inTx(ctx, func(tx *DB) error {
		n, err := tx.exec(ctx, tx.q.authReqs.consumeCode, now.UnixMilli(), codeHash, now.UnixMilli())
		if err != nil {
			return err
		}
		ar, err := tx.getAuthRequest(ctx, tx.q.authReqs.getByCode, codeHash)
		if err != nil {
			return err
		}
		switch {
		case n == 1:
			out = ar
			return nil
		case ar.CodeUsedAt != nil:
			out = ar
			return storage.ErrAlreadyUsed
		default:
			return storage.ErrExpired
		}
	})
	if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) {
		out = nil
	}
	return out, d.wrap(err, "consume auth code")
}

// DeleteAuthRequest removes the request; ErrNotFound when there is none.
func (d *DB) DeleteAuthRequest(ctx context.Context, id string) error {
	return d.wrap(one(d.exec(ctx, d.q.authReqs.delete, id)), "delete auth request %q", id)
}
