// Package licence holds every licence rule (issue 14): activation codes and their batches,
// redemption with attempt limits, seats bound to a person's installations, freeing, revoking
// and extending, the status at a given time, the entitlement summary a product's tokens carry,
// and the reminder mails before and on expiry. The CLI, the dashboard, the provider and the
// periodic job call it; storage only keeps the rows.
package licence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Audit event types (the activity log).
const (
	EventAdded     = "licence_added"
	EventActivated = "licence_activated"
	EventFreed     = "licence_freed"
	EventExpired   = "licence_expired"
	EventRevoked   = "licence_revoked"
	EventExtended  = "licence_extended"
)

// Limits of a batch.
const (
	MaxSeats = 1000
	MaxDays  = 100 * 366
	MaxCount = 100000
)

// Errors of the domain. Storage failures are returned wrapped as they are, never as one of
// these: they are ours, not the caller's.
var (
	// ErrMalformed: the input is not an activation code (or has a typo the check character
	// caught). Not looked up, not counted.
	ErrMalformed = errors.New("licence: not a well-formed activation code")
	// ErrInvalidCode: no licence can be redeemed with the code: unknown, revoked, or already
	// someone else's. One error for all, so the answer reveals nothing.
	ErrInvalidCode = errors.New("licence: invalid activation code")
	// ErrTooManyAttempts: the account or the IP used up its attempts for now.
	ErrTooManyAttempts = errors.New("licence: too many attempts")
	// ErrNotFound: no such licence, product or seat (of this person).
	ErrNotFound = errors.New("licence: not found")
	// ErrInactive: the licence is expired or revoked.
	ErrInactive = errors.New("licence: not active")
	// ErrNotProduct: the client is not an app of the licence's product.
	ErrNotProduct = errors.New("licence: client is not the licence's product")
	// ErrInvalid: an administrative request out of bounds.
	ErrInvalid = errors.New("licence: invalid request")
)

// SeatsFullError is returned by Activate when every seat is held by another installation.
type SeatsFullError struct{ Holders []*storage.Activation }

func (e *SeatsFullError) Error() string {
	return fmt.Sprintf("licence: every seat is taken (%d)", len(e.Holders))
}

// Meta describes who acts, for audit events.
type Meta struct {
	IP, UserAgent, ClientID string
	// Actor, Reason: an administrator's action ("cli", "user:ID").
	Actor, Reason string
}

// Service applies the rules over the store.
type Service struct {
	Store storage.Store
	// Guard limits redemption attempts (guard.LicenceRedeemAccount, LicenceRedeemIP). Its
	// clock is used; the counts are made in the redemption's own transaction.
	Guard *guard.Guard
	Now   func() time.Time
	Log   *slog.Logger
	// Reminders sends the reminder mails; nil sends none.
	Reminders *Reminders
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// auditIn writes e through tx, the transaction of what it records: written after it, a
// failure lost an operator's revocation or extension from the audit, or a person's licence
// from their activity, while the change stood.
func (s *Service) auditIn(ctx context.Context, tx storage.Store, e *storage.AuditEvent) error {
	e.CreatedAt = s.now()
	if err := tx.AddAuditEvent(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Type, err)
	}
	return nil
}

// Issued is one licence of a batch with its code, which exists only here.
type Issued struct {
	ID   string `json:"id"`
	Code string `json:"code"`
}

// IssueRequest describes a batch.
type IssueRequest struct {
	ProductID string
	Seats     int
	Days      int // 0 = unlimited
	Count     int
}

// Issue creates a batch of licences in one transaction and returns its id with the codes;
// only their hashes are stored, so they cannot be shown again.
func (s *Service) Issue(ctx context.Context, r IssueRequest, m Meta) (string, []Issued, error) {
	switch {
	case r.Seats < 1 || r.Seats > MaxSeats:
		return "", nil, fmt.Errorf("%w: seats must be 1..%d", ErrInvalid, MaxSeats)
	case r.Days < 0 || r.Days > MaxDays:
		return "", nil, fmt.Errorf("%w: days must be 0 (unlimited)..%d", ErrInvalid, MaxDays)
	case r.Count < 1 || r.Count > MaxCount:
		return "", nil, fmt.Errorf("%w: count must be 1..%d", ErrInvalid, MaxCount)
	}
	if _, err := s.Store.GetProduct(ctx, r.ProductID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", nil, fmt.Errorf("product %q: %w", r.ProductID, ErrNotFound)
		}
		return "", nil, err
	}
	batch := secret.NewID()
	now := s.now()
	out := make([]Issued, r.Count)
	rows := make([]*storage.Licence, r.Count)
	for i := range out {
		code := NewCode()
		bare, _ := Normalize(code)
		out[i] = Issued{ID: secret.NewID(), Code: code}
		rows[i] = &storage.Licence{ID: out[i].ID, ProductID: r.ProductID, CodeHash: HashCode(bare), Batch: batch,
			Seats: r.Seats, Days: r.Days, CreatedAt: now}
	}
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.CreateLicences(ctx, rows); err != nil {
			return err
		}
		return s.auditIn(ctx, tx, &storage.AuditEvent{Type: "licences_issued", Actor: m.Actor, Target: "product:" + r.ProductID,
			Reason: m.Reason, Detail: fmt.Sprintf("batch=%s count=%d seats=%d days=%d", batch, r.Count, r.Seats, r.Days)})
	})
	if err != nil {
		return "", nil, fmt.Errorf("issue licences: %w", err)
	}
	return batch, out, nil
}

// Redeem gives the licence with the typed code to the person. A malformed code is
// ErrMalformed (not counted); every well-formed one counts against the account and the IP,
// and then any code that cannot be redeemed is ErrInvalidCode.
//
// The counts and the claim are one transaction: the counts are atomic (parallel attempts
// cannot all pass), and when the store fails (a failure of ours, answered 503) the counts
// roll back with it, so our failures never use up the person's attempts.
func (s *Service) Redeem(ctx context.Context, userID, typed string, m Meta) (*storage.Licence, error) {
	bare, ok := Normalize(typed)
	if !ok {
		return nil, ErrMalformed
	}
	now := s.now()
	var (
		l       *storage.Licence
		refused bool // the store answered a real "no": unknown, revoked or someone else's
	)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		l, refused = nil, false
		g := &guard.Guard{Store: tx}
		if s.Guard != nil {
			g.Now = s.Guard.Now
		}
		for _, c := range []struct {
			rule    guard.Rule
			subject string
		}{{guard.LicenceRedeemAccount, userID}, {guard.LicenceRedeemIP, m.IP}} {
			if c.subject == "" {
				continue
			}
			allowed, err := g.Allow(ctx, c.rule, c.subject)
			if err != nil {
				return err
			}
			if !allowed {
				s.log().WarnContext(ctx, "licence redemption limit reached", "rule", c.rule.String(), "user_id", userID)
				return ErrTooManyAttempts
			}
		}
		var err error
		l, err = tx.RedeemLicence(ctx, HashCode(bare), userID, now)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) || errors.Is(err, storage.ErrAlreadyUsed) {
			// Nothing was claimed; the counts are kept (committed), with the attempt's event.
			l, refused = nil, true
			return s.auditIn(ctx, tx, &storage.AuditEvent{UserID: userID, Type: "licence_redeem_failed", IP: m.IP, UserAgent: m.UserAgent})
		}
		if err != nil {
			return err
		}
		// Redeeming one's own code again changes nothing and is not a new entry.
		if l.RedeemedAt != nil && l.RedeemedAt.UnixMilli() == now.UnixMilli() {
			return s.auditIn(ctx, tx, &storage.AuditEvent{UserID: userID, Type: EventAdded, IP: m.IP, UserAgent: m.UserAgent,
				Detail: l.ProductID, Target: "licence:" + l.ID})
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrTooManyAttempts):
		return nil, ErrTooManyAttempts
	case err != nil:
		return nil, fmt.Errorf("redeem licence: %w", err)
	case refused:
		return nil, ErrInvalidCode
	}
	return l, nil
}

// View is a licence as its owner sees it.
type View struct {
	Licence     *storage.Licence
	Product     *storage.Product
	Status      string
	Activations []*storage.Activation
}

// SeatsUsed is the number of seats held.
func (v View) SeatsUsed() int { return len(v.Activations) }

// Overview returns the person's licences with products, status and seats, newest first.
func (s *Service) Overview(ctx context.Context, userID string) ([]View, error) {
	ls, err := s.Store.ListLicences(ctx, storage.LicenceQuery{UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("list licences: %w", err)
	}
	return s.views(ctx, ls)
}

func (s *Service) views(ctx context.Context, ls []*storage.Licence) ([]View, error) {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	acts, err := s.Store.ListActivations(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list activations: %w", err)
	}
	products := map[string]*storage.Product{}
	now := s.now()
	out := make([]View, 0, len(ls))
	for i := len(ls) - 1; i >= 0; i-- {
		l := ls[i]
		p, ok := products[l.ProductID]
		if !ok {
			if p, err = s.Store.GetProduct(ctx, l.ProductID); err != nil {
				return nil, fmt.Errorf("product of licence: %w", err)
			}
			products[l.ProductID] = p
		}
		v := View{Licence: l, Product: p, Status: l.Status(now)}
		for _, a := range acts {
			if a.LicenceID == l.ID {
				v.Activations = append(v.Activations, a)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Licence returns one licence as the admin sees it.
func (s *Service) Licence(ctx context.Context, id string) (View, error) {
	l, err := s.Store.GetLicence(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return View{}, fmt.Errorf("licence %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return View{}, err
	}
	vs, err := s.views(ctx, []*storage.Licence{l})
	if err != nil {
		return View{}, err
	}
	return vs[0], nil
}

// List returns licences for the admin, oldest first.
func (s *Service) List(ctx context.Context, q storage.LicenceQuery) ([]View, error) {
	ls, err := s.Store.ListLicences(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list licences: %w", err)
	}
	vs, err := s.views(ctx, ls)
	if err != nil {
		return nil, err
	}
	// views returns newest first; the admin reads batches in issue order.
	for i, j := 0, len(vs)-1; i < j; i, j = i+1, j-1 {
		vs[i], vs[j] = vs[j], vs[i]
	}
	return vs, nil
}

// Free releases the seat the installation holds on the person's licence: the product loses
// the entitlement at its next refresh.
func (s *Service) Free(ctx context.Context, userID, licenceID, deviceID string, m Meta) error {
	l, err := s.Store.GetLicence(ctx, licenceID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && l.UserID != userID) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("free seat: %w", err)
	}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.DeleteActivation(ctx, licenceID, deviceID); err != nil {
			return err
		}
		return s.auditIn(ctx, tx, &storage.AuditEvent{UserID: userID, Type: EventFreed, IP: m.IP, UserAgent: m.UserAgent,
			Detail: l.ProductID, Target: "licence:" + l.ID})
	})
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("free seat: %w", err)
	}
	return nil
}

// Revoke ends a licence now (an admin's action): its seats stop counting for tokens.
func (s *Service) Revoke(ctx context.Context, id string, m Meta) (*storage.Licence, error) {
	now := s.now()
	var l *storage.Licence
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		l, err = tx.UpdateLicence(ctx, id, func(l *storage.Licence) error {
			if l.RevokedAt == nil {
				l.RevokedAt = &now
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, &storage.AuditEvent{UserID: l.UserID, Type: EventRevoked, Actor: m.Actor, Target: "licence:" + id,
			Reason: m.Reason, Detail: l.ProductID})
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("licence %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Extend lengthens a licence's term by days. A redeemed licence's end moves (from now when
// it has already expired, so the extension is not eaten by the lapse); an unredeemed one's
// term grows. The reminders of the new end are sent again.
func (s *Service) Extend(ctx context.Context, id string, days int, m Meta) (*storage.Licence, error) {
	if days < 1 || days > MaxDays {
		return nil, fmt.Errorf("%w: days must be 1..%d", ErrInvalid, MaxDays)
	}
	now := s.now()
	var l *storage.Licence
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		l, err = tx.UpdateLicence(ctx, id, func(l *storage.Licence) error {
			switch {
			case l.RedeemedAt == nil:
				if l.Days > 0 {
					l.Days += days
				}
			case l.ExpiresAt != nil:
				from := *l.ExpiresAt
				if from.Before(now) {
					from = now
				}
				end := from.Add(time.Duration(days) * 24 * time.Hour)
				l.ExpiresAt = &end
				l.Reminded30At, l.Reminded7At, l.ExpiryNotifiedAt = nil, nil, nil
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, &storage.AuditEvent{UserID: l.UserID, Type: EventExtended, Actor: m.Actor, Target: "licence:" + id,
			Reason: m.Reason, Detail: fmt.Sprintf("days=%d", days)})
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("licence %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DeviceKey is the installation a grant stands for: the product's device_id, else the
// grant itself (one sign-in, one installation).
func DeviceKey(g *storage.Grant) string {
	if g.DeviceID != "" {
		return "device:" + g.DeviceID
	}
	return "grant:" + g.ID
}

// deviceLabel is how an installation is named to people.
func deviceLabel(g *storage.Grant) string {
	if g.DeviceName != "" {
		return g.DeviceName
	}
	return strings.TrimSpace(g.UserAgent)
}

// Activate binds a seat of the person's licence to the installation of grant g (the
// product's access token's grant). A full licence is a *SeatsFullError with the holders.
func (s *Service) Activate(ctx context.Context, licenceID string, g *storage.Grant, m Meta) error {
	l, err := s.Store.GetLicence(ctx, licenceID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && l.UserID != g.UserID) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	if l.Status(s.now()) != storage.LicenceActive {
		return ErrInactive
	}
	p, err := s.Store.ProductOfClient(ctx, g.ClientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && p.ID != l.ProductID) {
		return ErrNotProduct
	}
	if err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	_, err = s.bind(ctx, l, g, false, m)
	return err
}

// bind takes (or keeps) a seat of l for g's installation and reports whether it is new. An
// automatic binding (at token issuance) skips an installation the person removed the
// licence from (storage.ErrRevoked); an explicit one binds it again.
func (s *Service) bind(ctx context.Context, l *storage.Licence, g *storage.Grant, automatic bool, m Meta) (bool, error) {
	a := &storage.Activation{LicenceID: l.ID, DeviceID: DeviceKey(g), UserID: g.UserID, ClientID: g.ClientID,
		GrantID: g.ID, DeviceName: deviceLabel(g), Automatic: automatic}
	now := s.now()
	var holders []*storage.Activation
	fresh := false
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		if holders, err = tx.Activate(ctx, a, now); err != nil {
			return err
		}
		fresh = a.CreatedAt.UnixMilli() == now.UnixMilli() // a seat kept keeps its first time
		if !fresh {
			return nil
		}
		return s.auditIn(ctx, tx, &storage.AuditEvent{UserID: g.UserID, Type: EventActivated, ClientID: g.ClientID, IP: m.IP,
			UserAgent: m.UserAgent, Detail: a.DeviceName, Target: "licence:" + l.ID})
	})
	if errors.Is(err, storage.ErrConflict) {
		return false, &SeatsFullError{Holders: holders}
	}
	if err != nil {
		return false, fmt.Errorf("activate: %w", err)
	}
	return fresh, nil
}
