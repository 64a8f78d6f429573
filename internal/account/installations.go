package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/myaccount/myaccount/storage"
)

// Installation is one grant of an installation client that stays signed in (see the rule at
// the top of apps.go): a product installed on one of the person's devices.
type Installation struct {
	Grant  *storage.Grant
	Client *storage.Client
}

// Installations returns the person's installations: live grants holding offline_access of
// installation clients, in the store's grant order.
func (s *Service) Installations(ctx context.Context, userID string) ([]Installation, error) {
	grants, err := s.Store.ListGrants(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list installations: %w", err)
	}
	clients := map[string]*storage.Client{}
	var out []Installation
	for _, g := range grants {
		if g.RevokedAt != nil || g.UserID != userID || !slices.Contains(g.Scopes, "offline_access") {
			continue
		}
		c, seen := clients[g.ClientID]
		if !seen {
			c, err = s.Store.GetClient(ctx, g.ClientID)
			if errors.Is(err, storage.ErrNotFound) {
				c = nil // the client was deleted: its grants no longer sign anything in
			} else if err != nil {
				return nil, fmt.Errorf("list installations: %w", err)
			}
			clients[g.ClientID] = c
		}
		if c != nil && IsInstallation(c) {
			out = append(out, Installation{Grant: g, Client: c})
		}
	}
	return out, nil
}

// SignOutInstallation signs one installation out: its whole token family is revoked, so the
// product notices at its next refresh or introspection. Someone else's grant is as good as
// none (storage.ErrNotFound), so ids cannot be probed. It returns the revoked grant.
func (s *Service) SignOutInstallation(ctx context.Context, userID, grantID string, m Meta) (*storage.Grant, error) {
	g, err := s.Store.GetGrant(ctx, grantID)
	if err != nil {
		return nil, fmt.Errorf("sign out installation: %w", err)
	}
	if g.UserID != userID {
		return nil, fmt.Errorf("sign out installation %q: %w", grantID, storage.ErrNotFound)
	}
	// The revocation and its activity event ("device_signed_out") commit together.
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.RevokeGrant(ctx, g.ID, s.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return s.auditIn(ctx, tx, userID, "device_signed_out", m, g.ClientID)
	})
	if err != nil {
		return nil, fmt.Errorf("sign out installation: %w", err)
	}
	return g, nil
}
