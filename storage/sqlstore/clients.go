package sqlstore

import (
	"context"
	"database/sql"

	"github.com/myaccount/myaccount/storage"
)

const clientColumns = `id, secret_hash, name, type, redirect_uris, post_logout_redirect_uris,
	grant_types, scopes, first_party, access_token_format, id_token_alg, access_token_ttl,
	id_token_ttl, refresh_token_ttl, require_mfa, logo_uri, client_uri, policy_uri, tos_uri,
	token_endpoint_auth_method, jwks_uri, jwks, backchannel_logout_uri,
	backchannel_logout_session_required, require_par, dpop_bound_access_tokens, resources,
	created_at, updated_at`

type clientSQL struct {
	insert, get, getForUpdate, lock, list, update, delete string
}

func newClientSQL(rb func(string) string, forUpdate, lockRow string) clientSQL {
	get := `SELECT ` + clientColumns + ` FROM clients WHERE id = ?`
	return clientSQL{
		insert: rb(`INSERT INTO clients (` + clientColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		get:          rb(get),
		getForUpdate: rb(get + forUpdate),
		lock:         rb(`SELECT id FROM clients WHERE id = ?` + lockRow),
		list:         rb(`SELECT ` + clientColumns + ` FROM clients ORDER BY id`),
		update: rb(`UPDATE clients SET secret_hash = ?, name = ?, type = ?, redirect_uris = ?,
			post_logout_redirect_uris = ?, grant_types = ?, scopes = ?, first_party = ?,
			access_token_format = ?, id_token_alg = ?, access_token_ttl = ?, id_token_ttl = ?,
			refresh_token_ttl = ?, require_mfa = ?, logo_uri = ?, client_uri = ?, policy_uri = ?,
			tos_uri = ?, token_endpoint_auth_method = ?, jwks_uri = ?, jwks = ?,
			backchannel_logout_uri = ?, backchannel_logout_session_required = ?, require_par = ?,
			dpop_bound_access_tokens = ?, resources = ?, created_at = ?, updated_at = ?
			WHERE id = ?`),
		delete: rb(`DELETE FROM clients WHERE id = ?`),
	}
}

// clientRow is the clients table's shape.
type clientRow struct {
	ID                     string        `db:"id"`
	SecretHash             string        `db:"secret_hash"`
	Name                   string        `db:"name"`
	Type                   string        `db:"type"`
	RedirectURIs           string        `db:"redirect_uris"`
	PostLogoutRedirectURIs string        `db:"post_logout_redirect_uris"`
	GrantTypes             string        `db:"grant_types"`
	Scopes                 string        `db:"scopes"`
	FirstParty             bool          `db:"first_party"`
	AccessTokenFormat      string        `db:"access_token_format"`
	IDTokenAlg             string        `db:"id_token_alg"`
	AccessTokenTTL         int64         `db:"access_token_ttl"`
	IDTokenTTL             int64         `db:"id_token_ttl"`
	RefreshTokenTTL        int64         `db:"refresh_token_ttl"`
	RequireMFA             bool          `db:"require_mfa"`
	LogoURI                string        `db:"logo_uri"`
	ClientURI              string        `db:"client_uri"`
	PolicyURI              string        `db:"policy_uri"`
	TosURI                 string        `db:"tos_uri"`
	AuthMethod             string        `db:"token_endpoint_auth_method"`
	JWKSURI                string        `db:"jwks_uri"`
	JWKS                   string        `db:"jwks"`
	BackchannelLogoutURI   string        `db:"backchannel_logout_uri"`
	BackchannelSessionReq  bool          `db:"backchannel_logout_session_required"`
	RequirePAR             bool          `db:"require_par"`
	DPoPBound              bool          `db:"dpop_bound_access_tokens"`
	Resources              string        `db:"resources"`
	CreatedAt              sql.NullInt64 `db:"created_at"`
	UpdatedAt              sql.NullInt64 `db:"updated_at"`
}

func (r *clientRow) client() (*storage.Client, error) {
	var ld listDecoder
	c := &storage.Client{
		ID: r.ID, SecretHash: r.SecretHash, Name: r.Name, Type: r.Type,
		RedirectURIs:           ld.list("redirect_uris", r.RedirectURIs),
		PostLogoutRedirectURIs: ld.list("post_logout_redirect_uris", r.PostLogoutRedirectURIs),
		GrantTypes:             ld.list("grant_types", r.GrantTypes),
		Scopes:                 ld.list("scopes", r.Scopes),
		FirstParty:             r.FirstParty, AccessTokenFormat: r.AccessTokenFormat, IDTokenAlg: r.IDTokenAlg,
		AccessTokenTTL:                   fromSeconds(r.AccessTokenTTL),
		IDTokenTTL:                       fromSeconds(r.IDTokenTTL),
		RefreshTokenTTL:                  fromSeconds(r.RefreshTokenTTL),
		RequireMFA:                       r.RequireMFA,
		LogoURI:                          r.LogoURI,
		ClientURI:                        r.ClientURI,
		PolicyURI:                        r.PolicyURI,
		TosURI:                           r.TosURI,
		TokenEndpointAuthMethod:          r.AuthMethod,
		JWKSURI:                          r.JWKSURI,
		JWKS:                             r.JWKS,
		BackchannelLogoutURI:             r.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: r.BackchannelSessionReq,
		RequirePAR:                       r.RequirePAR,
		DPoPBoundAccessTokens:            r.DPoPBound,
		Resources:                        ld.list("resources", r.Resources),
		CreatedAt:                        fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt),
	}
	if ld.err != nil {
		return nil, ld.err
	}
	return c, nil
}

// clientValues lists the mutable columns in the order insert and update use after the id.
func clientValues(c *storage.Client) []any {
	return []any{c.SecretHash, c.Name, c.Type, encodeList(c.RedirectURIs),
		encodeList(c.PostLogoutRedirectURIs), encodeList(c.GrantTypes), encodeList(c.Scopes),
		c.FirstParty, c.AccessTokenFormat, c.IDTokenAlg, seconds(c.AccessTokenTTL),
		seconds(c.IDTokenTTL), seconds(c.RefreshTokenTTL), c.RequireMFA,
		c.LogoURI, c.ClientURI, c.PolicyURI, c.TosURI, c.TokenEndpointAuthMethod, c.JWKSURI, c.JWKS,
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.RequirePAR,
		c.DPoPBoundAccessTokens, encodeList(c.Resources), msOrNull(c.CreatedAt), msOrNull(c.UpdatedAt)}
}

// CreateClient inserts c. A zero CreatedAt is set to now and a zero UpdatedAt to CreatedAt,
// in c as well. TTLs are stored in whole seconds. A duplicate id is ErrConflict.
func (d *DB) CreateClient(ctx context.Context, c *storage.Client) error {
	c.CreatedAt = orNow(c.CreatedAt, d.clockNow())
	c.UpdatedAt = orNow(c.UpdatedAt, c.CreatedAt)
	_, err := d.exec(ctx, d.q.clients.insert, append([]any{c.ID}, clientValues(c)...)...)
	return d.wrap(err, "create client %q", c.ID)
}

// GetClient returns the client by id.
func (d *DB) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c, err := d.getClient(ctx, d.q.clients.get, id)
	return c, d.wrap(err, "get client %q", id)
}

func (d *DB) getClient(ctx context.Context, query, id string) (*storage.Client, error) {
	var r clientRow
	if err := d.get(ctx, &r, query, id); err != nil {
		return nil, err
	}
	return r.client()
}

// ListClients returns every client ordered by id.
func (d *DB) ListClients(ctx context.Context) ([]*storage.Client, error) {
	var rows []clientRow
	if err := d.sel(ctx, &rows, d.q.clients.list); err != nil {
		return nil, d.wrap(err, "list clients")
	}
	out := make([]*storage.Client, len(rows))
	for i := range rows {
		c, err := rows[i].client()
		if err != nil {
			return nil, d.wrap(err, "list clients: client %q", rows[i].ID)
		}
		out[i] = c
	}
	return out, nil
}

// UpdateClient loads the client, lets fn change it and stores it, in one transaction; fn's
// error aborts without writing. The id cannot change. UpdatedAt is set to now unless fn set
// it itself.
func (d *DB) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (*storage.Client, error) {
	var out *storage.Client
	err := d.inTx(ctx, func(tx *DB) error {
		c, err := tx.getClient(ctx, tx.q.clients.getForUpdate, id)
		if err != nil {
			return err
		}
		before := c.UpdatedAt
		if err := fn(c); err != nil {
			return err
		}
		c.ID = id
		if c.UpdatedAt.Equal(before) {
			c.UpdatedAt = tx.clockNow()
		}
		if _, err := tx.exec(ctx, tx.q.clients.update, append(clientValues(c), id)...); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err := d.durable(ctx, err); err != nil {
		return nil, d.wrap(err, "update client %q", id)
	}
	return out, nil
}

// LockClient locks the client's row for the rest of the transaction (see
// storage.ClientStore): SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction already
// excludes every other writer, so the read only checks that the client exists.
func (d *DB) LockClient(ctx context.Context, id string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		var got string
		return tx.get(ctx, &got, tx.q.clients.lock, id)
	})
	return d.wrap(err, "lock client %q", id)
}

// DeleteClient removes the client; its auth requests, grants, tokens and consents go with it
// by ON DELETE CASCADE, so deleting a client also revokes everything issued to it.
func (d *DB) DeleteClient(ctx context.Context, id string) error {
	return d.wrap(d.durable(ctx, one(d.exec(ctx, d.q.clients.delete, id))), "delete client %q", id)
}
