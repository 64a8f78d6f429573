package sqlstore

import (
	"context"
	"database/sql"

	"github.com/myaccount/myaccount/storage"
)

type consentSQL struct {
	get, list, upsert, delete string
}

func newConsentSQL(rb func(string) string) consentSQL {
	return consentSQL{
		get: rb(`SELECT user_id, client_id, scopes, granted_at FROM consents
			WHERE user_id = ? AND client_id = ?`),
		list: rb(`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = ?`),
		// ON CONFLICT ... DO UPDATE is spelled the same in SQLite (3.24+) and PostgreSQL, and
		// unlike delete-then-insert it cannot race into a duplicate key.
		upsert: rb(`INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`),
		delete: rb(`DELETE FROM consents WHERE user_id = ? AND client_id = ?`),
	}
}

type consentRow struct {
	UserID    string        `db:"user_id"`
	ClientID  string        `db:"client_id"`
	Scopes    string        `db:"scopes"`
	GrantedAt sql.NullInt64 `db:"granted_at"`
}

// GetConsent returns the remembered consent of the user for the client.
func (d *DB) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	var r consentRow
	if err := d.get(ctx, &r, d.q.consents.get, userID, clientID); err != nil {
		return nil, d.wrap(err, "get consent of user %q for client %q", userID, clientID)
	}
	c, err := r.consent()
	if err != nil {
		return nil, d.wrap(err, "get consent of user %q for client %q", userID, clientID)
	}
	return c, nil
}

// ListConsents returns the user's consents (by the primary key's prefix).
func (d *DB) ListConsents(ctx context.Context, userID string) ([]*storage.Consent, error) {
	var rows []consentRow
	if err := d.sel(ctx, &rows, d.q.consents.list, userID); err != nil {
		return nil, d.wrap(err, "list consents of user %q", userID)
	}
	out := make([]*storage.Consent, len(rows))
	for i := range rows {
		c, err := rows[i].consent()
		if err != nil {
			return nil, d.wrap(err, "list consents of user %q", userID)
		}
		out[i] = c
	}
	return out, nil
}

func (r *consentRow) consent() (*storage.Consent, error) {
	scopes, err := decodeList("scopes", r.Scopes)
	if err != nil {
		return nil, err
	}
	return &storage.Consent{UserID: r.UserID, ClientID: r.ClientID, Scopes: scopes, GrantedAt: fromMS(r.GrantedAt)}, nil
}

// SaveConsent inserts the consent or replaces its scopes and time. A zero GrantedAt is set
// to now (in c as well). The user and client must exist.
func (d *DB) SaveConsent(ctx context.Context, c *storage.Consent) error {
	c.GrantedAt = orNow(c.GrantedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.consents.upsert, c.UserID, c.ClientID, encodeList(c.Scopes), msOrNull(c.GrantedAt))
	return d.wrap(err, "save consent of user %q for client %q", c.UserID, c.ClientID)
}

// DeleteConsent forgets the consent; ErrNotFound when there is none.
func (d *DB) DeleteConsent(ctx context.Context, userID, clientID string) error {
	err := d.durable(ctx, one(d.exec(ctx, d.q.consents.delete, userID, clientID)))
	return d.wrap(err, "delete consent of user %q for client %q", userID, clientID)
}
