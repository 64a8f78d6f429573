package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// KeyManager is what the signing-key operations need of keys.Manager (the same calls
// `myaccount keys list|rotate` makes).
type KeyManager interface {
	Ensure(ctx context.Context) error
	// RotateWith rotates in one transaction of the store, running then in it with the new
	// keys (the rotation's audit event).
	RotateWith(ctx context.Context, then func(ctx context.Context, tx storage.Store, created []*storage.SigningKey) error) ([]*storage.SigningKey, error)
	List(ctx context.Context) ([]*storage.SigningKey, error)
}

// SigningKey is a token-signing key as the console lists it: its public facts only.
type SigningKey struct {
	KID         string     `json:"kid"`
	Alg         string     `json:"alg"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
	DeleteAfter *time.Time `json:"delete_after,omitempty"`
}

func viewKey(k *storage.SigningKey) SigningKey {
	return SigningKey{KID: k.ID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt.UTC(),
		ActivatedAt: utc(k.ActivatedAt), RetiredAt: utc(k.RetiredAt), DeleteAfter: utc(k.DeleteAfter)}
}

// Keys lists and rotates the provider's signing keys. They are an admin's alone: listing
// needs ReadClients and rotating ManageClients, which support never has (a rotation changes
// what every relying party must trust, like a client change does).
type Keys struct {
	Service *Service
	Manager KeyManager
}

// List returns every stored key, by algorithm and age.
func (k *Keys) List(ctx context.Context, a Actor) ([]SigningKey, error) {
	if err := authorize(a, ReadClients); err != nil {
		return nil, err
	}
	if k.Manager == nil {
		return nil, errors.New("admin: no key manager")
	}
	ks, err := k.Manager.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]SigningKey, len(ks))
	for i, x := range ks {
		out[i] = viewKey(x)
	}
	return out, nil
}

// Rotate replaces the active key of every algorithm (the previous ones stay published until
// the tokens they signed expire) and returns the new keys. A reason is required; the
// rotation is audited with the new key ids, in the rotation's transaction (RotateWith): a
// failed event rotates nothing, and the retry rotates once. Recorded after the commit, a
// failed event answered an error for a rotation done unaudited, and the retry rotated again.
func (k *Keys) Rotate(ctx context.Context, a Actor, reason string) ([]SigningKey, error) {
	if err := authorize(a, ManageClients); err != nil {
		return nil, err
	}
	if err := needReason(reason); err != nil {
		return nil, err
	}
	if k.Manager == nil {
		return nil, errors.New("admin: no key manager")
	}
	if err := k.Manager.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("ensure keys: %w", err)
	}
	created, err := k.Manager.RotateWith(ctx, func(ctx context.Context, tx storage.Store, created []*storage.SigningKey) error {
		ids := make([]string, len(created))
		for i, x := range created {
			ids[i] = x.ID
		}
		return k.Service.recordIn(ctx, tx, a, "admin.keys.rotate", "", reason, strings.Join(ids, ","))
	})
	if err != nil {
		return nil, fmt.Errorf("rotate keys: %w", err)
	}
	out := make([]SigningKey, len(created))
	for i, x := range created {
		out[i] = viewKey(x)
	}
	return out, nil
}
