package licence

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/storage"
)

// Scope is the scope that asks for the licences claim.
const Scope = "licences"

// Entitlement is one element of the licences claim (ID token, userinfo, introspection): an
// active licence of the requesting client's product. Revoked and expired licences are left
// out, so they disappear from the product at its next refresh.
type Entitlement struct {
	ID      string `json:"id"`
	Product string `json:"product"`
	Status  string `json:"status"`
	// ExpiresAt is seconds since the epoch, or null for an unlimited licence.
	ExpiresAt  *int64 `json:"expires_at"`
	Seats      int    `json:"seats"`
	SeatsUsed  int    `json:"seats_used"`
	ThisDevice bool   `json:"this_device"`
}

// EntitlementsIn is Entitlements with every read and the seat's binding made in tx, the
// caller's transaction: a code exchange computes the claim in the transaction that consumes
// the code, so that a failure here leaves the code unused for the client's retry.
func (s *Service) EntitlementsIn(ctx context.Context, tx storage.Store, userID, clientID string, g *storage.Grant, bind bool) ([]Entitlement, error) {
	in := *s
	in.Store = tx
	return in.Entitlements(ctx, userID, clientID, g, bind)
}

// Entitlements returns the person's active licences of the product that client clientID
// belongs to (none when it belongs to none), as seen from grant g's installation. With bind,
// an installation that named itself (device_id) and holds no seat yet takes a free seat of
// the first licence that has one: the first token issuance binds, and a refresh retries.
// g may be nil (no installation: this_device is false everywhere).
func (s *Service) Entitlements(ctx context.Context, userID, clientID string, g *storage.Grant, bind bool) ([]Entitlement, error) {
	p, err := s.Store.ProductOfClient(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return []Entitlement{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("entitlements: %w", err)
	}
	ls, err := s.Store.ListLicences(ctx, storage.LicenceQuery{UserID: userID, ProductID: p.ID})
	if err != nil {
		return nil, fmt.Errorf("entitlements: %w", err)
	}
	now := s.now()
	var active []*storage.Licence
	for _, l := range ls {
		if l.Status(now) == storage.LicenceActive {
			active = append(active, l)
		}
	}
	out := []Entitlement{}
	if len(active) == 0 {
		return out, nil
	}
	ids := make([]string, len(active))
	for i, l := range active {
		ids[i] = l.ID
	}
	acts, err := s.Store.ListActivations(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("entitlements: %w", err)
	}
	device := ""
	if g != nil {
		device = DeviceKey(g)
	}
	holds := func() bool {
		for _, a := range acts {
			if a.DeviceID == device {
				return true
			}
		}
		return false
	}
	if bind && g != nil && g.DeviceID != "" && g.RevokedAt == nil && !holds() {
		for _, l := range active {
			_, err := s.bind(ctx, l, g, true, Meta{ClientID: clientID})
			var full *SeatsFullError
			if errors.As(err, &full) || errors.Is(err, storage.ErrRevoked) {
				continue // full, or removed from this installation by the person
			}
			if err != nil {
				return nil, err
			}
			if acts, err = s.Store.ListActivations(ctx, ids); err != nil {
				return nil, fmt.Errorf("entitlements: %w", err)
			}
			break
		}
	}
	for _, l := range active {
		e := Entitlement{ID: l.ID, Product: p.ID, Status: storage.LicenceActive, Seats: l.Seats}
		if l.ExpiresAt != nil {
			sec := l.ExpiresAt.Unix()
			e.ExpiresAt = &sec
		}
		for _, a := range acts {
			if a.LicenceID == l.ID {
				e.SeatsUsed++
				if device != "" && a.DeviceID == device {
					e.ThisDevice = true
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}
