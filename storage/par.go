package storage

import (
	"context"
	"time"
)

// PushedRequest is an authorization request a client pushed to /par (RFC 9126): its
// parameters, kept under the hash of the request_uri handed back, until it is used once or
// expires.
type PushedRequest struct {
	Hash      string // SHA-256 of the request_uri's random part (never the URI itself)
	ClientID  string
	Params    string // the request's parameters, form-encoded
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PushedRequestStore keeps pushed authorization requests.
type PushedRequestStore interface {
	// PutPushedRequest stores r.
	PutPushedRequest(ctx context.Context, r *PushedRequest) error
	// TakePushedRequest removes the request stored under hash for clientID and returns it,
	// in one statement, so that of concurrent uses only one gets it. ErrNotFound when there is
	// none (unknown, used, or pushed by another client); ErrExpired when it expired at now
	// (it is removed all the same).
	TakePushedRequest(ctx context.Context, hash, clientID string, now time.Time) (*PushedRequest, error)
	// GetPushedRequest returns the request stored under hash for clientID without taking it
	// (/authorize reads it, and takes it with the auth request made of it). ErrNotFound and
	// ErrExpired as for TakePushedRequest; an expired one is left to the collector.
	GetPushedRequest(ctx context.Context, hash, clientID string, now time.Time) (*PushedRequest, error)
}
