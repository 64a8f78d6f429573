package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// A client_credentials JWT access token is stateless: issuing one writes nothing (that write
// was the main cost of the grant). Its revocation (RFC 7009) is the only thing stored: the
// hash of its jti on the denylist, until the token expires. Introspection reads the denylist
// in the shared database, so a revocation is seen at once by every instance.

// DenyAccessToken puts the token idHash on the denylist until expiresAt. It is a revocation,
// so it is durable: a power cut must not put the token back in use.
func (d *DB) DenyAccessToken(ctx context.Context, idHash, clientID string, expiresAt, now time.Time) error {
	_, err := d.exec(ctx, d.q.tokens.insertDenied, idHash, clientID, expiresAt.UnixMilli(), now.UnixMilli())
	return d.wrap(d.durable(ctx, err), "deny access token")
}

// AccessTokenDenied reports whether idHash is on the denylist.
func (d *DB) AccessTokenDenied(ctx context.Context, idHash string) (bool, error) {
	if d.exists != nil && d.tx == nil {
		denied, err := d.exists(ctx, d.q.tokens.getDenied, idHash)
		return denied, d.wrap(err, "access token denied")
	}
	var one int
	err := d.get(ctx, &one, d.q.tokens.getDenied, idHash)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, d.wrap(err, "access token denied")
	}
	return true, nil
}
