package storage

import (
	"context"
	"time"
)

// Kinds of JWT ids remembered by ReplayStore.
const (
	ReplayDPoP      = "dpop"             // a DPoP proof's jti (RFC 9449 §11.1)
	ReplayAssertion = "client_assertion" // a private_key_jwt client assertion's jti (RFC 7523 §3)
)

// ReplayStore remembers JWT ids that may be used only once.
type ReplayStore interface {
	// RememberJTI records jtiHash (a hash of the JWT's jti, never the jti) of the given kind
	// until expires. fresh is true when it was not seen before (or only in an entry already
	// expired); false when a live entry exists: a replay. Of concurrent calls with the same
	// kind and hash, exactly one gets fresh. Expired entries are purged by DeleteExpired.
	RememberJTI(ctx context.Context, kind, jtiHash string, expires time.Time) (fresh bool, err error)
	// ForgetJTI removes the entry of kind and jtiHash, so that the JWT may be used again:
	// for a request that remembered it and then failed on our side, whose client's retry
	// with the same JWT is no replay. Removing none is not an error.
	ForgetJTI(ctx context.Context, kind, jtiHash string) error
}
