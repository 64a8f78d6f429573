package sqlstore

import (
	"context"
	"database/sql"

	"github.com/myaccount/myaccount/storage"
)

const keyColumns = `id, alg, sealed, public_jwk, state, created_at, activated_at, retired_at, delete_after`

type keySQL struct {
	insert, list, getForUpdate, update, delete string
}

func newKeySQL(rb func(string) string, forUpdate string) keySQL {
	return keySQL{
		insert:       rb(`INSERT INTO signing_keys (` + keyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		list:         rb(`SELECT ` + keyColumns + ` FROM signing_keys ORDER BY created_at, id`),
		getForUpdate: rb(`SELECT ` + keyColumns + ` FROM signing_keys WHERE id = ?` + forUpdate),
		update: rb(`UPDATE signing_keys SET alg = ?, sealed = ?, public_jwk = ?, state = ?,
			created_at = ?, activated_at = ?, retired_at = ?, delete_after = ? WHERE id = ?`),
		delete: rb(`DELETE FROM signing_keys WHERE id = ?`),
	}
}

type keyRow struct {
	ID          string        `db:"id"`
	Alg         string        `db:"alg"`
	Sealed      []byte        `db:"sealed"`
	PublicJWK   []byte        `db:"public_jwk"`
	State       string        `db:"state"`
	CreatedAt   sql.NullInt64 `db:"created_at"`
	ActivatedAt sql.NullInt64 `db:"activated_at"`
	RetiredAt   sql.NullInt64 `db:"retired_at"`
	DeleteAfter sql.NullInt64 `db:"delete_after"`
}

func (r *keyRow) key() *storage.SigningKey {
	return &storage.SigningKey{
		ID: r.ID, Alg: r.Alg, Sealed: r.Sealed, PublicJWK: r.PublicJWK, State: r.State,
		CreatedAt: fromMS(r.CreatedAt), ActivatedAt: fromMSPtr(r.ActivatedAt),
		RetiredAt: fromMSPtr(r.RetiredAt), DeleteAfter: fromMSPtr(r.DeleteAfter),
	}
}

// keyValues lists the mutable columns in the order insert and update use after the id.
func keyValues(k *storage.SigningKey) []any {
	return []any{k.Alg, k.Sealed, k.PublicJWK, k.State, msOrNull(k.CreatedAt),
		msPtr(k.ActivatedAt), msPtr(k.RetiredAt), msPtr(k.DeleteAfter)}
}

// CreateSigningKey stores a sealed key. A zero CreatedAt is set to now (in k as well); a
// duplicate kid is ErrConflict.
func (d *DB) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	k.CreatedAt = orNow(k.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.keys.insert, append([]any{k.ID}, keyValues(k)...)...)
	return d.wrap(err, "create signing key %q", k.ID)
}

// ListSigningKeys returns every stored key, oldest first, in all states.
func (d *DB) ListSigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	var rows []keyRow
	if err := d.sel(ctx, &rows, d.q.keys.list); err != nil {
		return nil, d.wrap(err, "list signing keys")
	}
	out := make([]*storage.SigningKey, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}

// UpdateSigningKey loads the key, lets fn change it and stores it, in one transaction; fn's
// error aborts without writing. The kid cannot change.
func (d *DB) UpdateSigningKey(ctx context.Context, id string, fn func(*storage.SigningKey) error) error {
	err := d.inTx(ctx, func(tx *DB) error {
		var r keyRow
		if err := tx.get(ctx, &r, tx.q.keys.getForUpdate, id); err != nil {
			return err
		}
		k := r.key()
		if err := fn(k); err != nil {
			return err
		}
		_, err := tx.exec(ctx, tx.q.keys.update, append(keyValues(k), id)...)
		return err
	})
	return d.wrap(d.durable(ctx, err), "update signing key %q", id)
}

// DeleteSigningKey removes the key; ErrNotFound when there is none.
func (d *DB) DeleteSigningKey(ctx context.Context, id string) error {
	return d.wrap(d.durable(ctx, one(d.exec(ctx, d.q.keys.delete, id))), "delete signing key %q", id)
}
