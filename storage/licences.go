package storage

import (
	"context"
	"time"
)

// Licence statuses (issue 14). Only active and revoked are stored (as revoked_at); expired is
// derived from ExpiresAt and the clock, so that no job has to run for a licence to expire.
const (
	LicenceActive  = "active"
	LicenceExpired = "expired"
	LicenceRevoked = "revoked"
)

// Licence reminder kinds, one column each: a reminder is queued once.
const (
	Reminder30Days = "30d"
	Reminder7Days  = "7d"
	ReminderExpiry = "expired"
)

// Product is something people hold licences for (an antivirus); its OAuth clients are the
// product's apps. A client belongs to at most one product.
type Product struct {
	ID        string
	Name      string
	ClientIDs []string // sorted
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Licence is an entitlement to a product on Seats devices. Its code is printed once when
// issued; only the SHA-256 (CodeHash) is kept. The term (Days, 0 = unlimited) starts when the
// code is redeemed: then UserID, RedeemedAt and ExpiresAt (nil = unlimited) are set.
type Licence struct {
	ID         string
	ProductID  string
	CodeHash   string
	Batch      string
	Seats      int
	Days       int
	UserID     string
	CreatedAt  time.Time
	RedeemedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	// The reminder mails already queued (see Reminder30Days, ...).
	Reminded30At     *time.Time
	Reminded7At      *time.Time
	ExpiryNotifiedAt *time.Time
}

// Status is the licence's status at now.
func (l *Licence) Status(now time.Time) string {
	switch {
	case l.RevokedAt != nil:
		return LicenceRevoked
	case l.ExpiresAt != nil && !now.Before(*l.ExpiresAt):
		return LicenceExpired
	}
	return LicenceActive
}

// Activation is a seat of a licence held by one installation of its owner. DeviceID is the
// installation's stable id (the product's device_id, or its grant id when it sent none);
// GrantID is its current grant. An activation whose grant is revoked holds no seat.
type Activation struct {
	LicenceID  string
	DeviceID   string
	Seat       int
	UserID     string
	ClientID   string
	GrantID    string
	DeviceName string
	CreatedAt  time.Time
	// Automatic marks a binding at token issuance (not stored): it skips an installation the
	// person removed the licence from, which only an explicit activation binds again.
	Automatic bool
}

// LicenceQuery selects licences, in creation order then id.
type LicenceQuery struct {
	ProductID string // "" = any
	UserID    string // "" = any
	Batch     string // "" = any
	Limit     int    // <= 0: no limit
}

// LicenceStore keeps products, licences and activations (issue 14).
type LicenceStore interface {
	// CreateProduct stores p with its clients; a taken product id, or a client that is
	// already another product's, is ErrConflict; an unknown client ErrNotFound.
	CreateProduct(ctx context.Context, p *Product) error
	GetProduct(ctx context.Context, id string) (*Product, error)
	ListProducts(ctx context.Context) ([]*Product, error)
	// UpdateProduct runs fn on the product in one transaction and stores its name and
	// clients (errors as for CreateProduct).
	UpdateProduct(ctx context.Context, id string, fn func(*Product) error) (*Product, error)
	// DeleteProduct removes a product without licences; ErrConflict when it has some.
	DeleteProduct(ctx context.Context, id string) error
	// ProductOfClient returns the product the client belongs to (ErrNotFound: none).
	ProductOfClient(ctx context.Context, clientID string) (*Product, error)

	// CreateLicences stores a batch in one transaction: all or none.
	CreateLicences(ctx context.Context, ls []*Licence) error
	GetLicence(ctx context.Context, id string) (*Licence, error)
	ListLicences(ctx context.Context, q LicenceQuery) ([]*Licence, error)
	// RedeemLicence gives the licence with the code hash to userID, starting its term at now,
	// in one UPDATE that only matches an unowned, unrevoked licence, so of concurrent
	// redemptions one wins. Unknown: ErrNotFound; revoked: ErrRevoked; owned by someone
	// else: ErrAlreadyUsed. Redeeming one's own licence again returns it unchanged.
	RedeemLicence(ctx context.Context, codeHash, userID string, now time.Time) (*Licence, error)
	// UpdateLicence runs fn on the licence in one transaction and stores its seats, days,
	// expiry and revocation.
	UpdateLicence(ctx context.Context, id string, fn func(*Licence) error) (*Licence, error)

	// Activate gives the installation a.DeviceID a seat of licence a.LicenceID, or moves the
	// seat it holds to a.GrantID. The licence row is locked and the seats counted in the same
	// transaction, so concurrent activations never exceed Seats. When every seat is held by
	// another installation it returns ErrConflict with the holders. a.Seat is set. An
	// Automatic activation of a released installation (see DeleteActivation) is ErrRevoked;
	// any other activation forgets the release.
	Activate(ctx context.Context, a *Activation, now time.Time) (holders []*Activation, err error)
	// ListActivations returns the live activations (grant not revoked) of the licences, by
	// licence then seat.
	ListActivations(ctx context.Context, licenceIDs []string) ([]*Activation, error)
	// DeleteActivation frees the installation's seat (ErrNotFound when it holds none) and
	// records the release, in one transaction.
	DeleteActivation(ctx context.Context, licenceID, deviceID string) error
	// LicencesDue returns the owned, unrevoked licences with a reminder due at now and not
	// yet queued (30 days before expiry, 7 days before, at expiry), soonest expiry first.
	LicencesDue(ctx context.Context, now time.Time, limit int) ([]*Licence, error)
	// MarkLicenceReminder records that the reminder kind was queued, once: false when it had
	// been already (by another instance).
	MarkLicenceReminder(ctx context.Context, id, kind string, now time.Time) (bool, error)
}
