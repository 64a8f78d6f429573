package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/myaccount/myaccount/internal/consent"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Apps and devices: which products hold access to a person's account, and where the account
// pages show them. The rule is per client, so one product always shows up in one place:
//
//   - An installation client runs on the person's own hardware: a native app (type native),
//     or any client allowed the device authorization grant (a TV, a command-line tool). Each
//     of its grants that stays signed in (offline_access) is one installation, listed under
//     Devices, where it can be signed out on its own.
//   - Every other client (confidential or public: a web app or a single-page app) is an app.
//     The person's apps are listed under Apps, one row per client, with the scopes granted
//     and "Remove access".
//
// A third-party installation client that the person consented to is listed under Apps as
// well: Apps is where a permission is withdrawn (which signs out all of its installations
// too), Devices is where one installation is signed out.

// grantDeviceCode is the device authorization grant (RFC 8628).
const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// ErrNoSuchApp is a client that holds no access to the account (or none of the person's).
var ErrNoSuchApp = errors.New("account: the app has no access to this account")

// IsInstallation reports whether c's sign-ins are installations on a device (see above).
func IsInstallation(c *storage.Client) bool {
	return c.Type == storage.ClientNative || slices.Contains(c.GrantTypes, grantDeviceCode)
}

// App is a product with access to a person's account.
type App struct {
	Client *storage.Client
	// Scopes are those the person allowed (the consent) and those its live grants hold.
	Scopes []string
	// Consented is true when the person allowed it on the consent page (a third party).
	Consented bool
	// FirstUse is its first sign-in (or the consent, when that is older); LastUse is its last
	// use of a token (or the consent, when that is newer).
	FirstUse, LastUse time.Time
}

// Apps lists the products with access to the account: every client the person consented to,
// and every app client (not an installation client) with a live grant. Newest use first.
// It reads in one transaction, so the list is one consistent picture.
//
// Storage has no list of a person's consents, so each third-party client's consent is looked
// up: one query per registered third-party client, which is few on an account service.
func (s *Service) Apps(ctx context.Context, userID string) ([]App, error) {
	var apps []App
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		apps = nil
		clients, err := tx.ListClients(ctx)
		if err != nil {
			return err
		}
		grants, err := tx.ListGrants(ctx, userID)
		if err != nil {
			return err
		}
		// One read for every consent: a read per third-party client grew with the clients.
		consents, err := tx.ListConsents(ctx, userID)
		if err != nil {
			return err
		}
		consentOf := make(map[string]*storage.Consent, len(consents))
		for _, con := range consents {
			consentOf[con.ClientID] = con
		}
		for _, c := range clients {
			a := App{Client: c}
			live := false
			for _, g := range grants {
				if g.ClientID != c.ID || g.UserID != userID {
					continue
				}
				a.FirstUse = earliest(a.FirstUse, g.CreatedAt)
				if g.RevokedAt != nil {
					continue
				}
				live = true
				a.LastUse = latest(a.LastUse, g.LastUsedAt)
				a.Scopes = union(a.Scopes, g.Scopes)
			}
			if con := consentOf[c.ID]; con != nil && !c.FirstParty {
				a.Consented = true
				a.Scopes = union(con.Scopes, a.Scopes)
				a.FirstUse = earliest(a.FirstUse, con.GrantedAt)
				a.LastUse = latest(a.LastUse, con.GrantedAt)
			}
			if a.Consented || (live && !IsInstallation(c)) {
				apps = append(apps, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	slices.SortStableFunc(apps, func(a, b App) int { return b.LastUse.Compare(a.LastUse) })
	return apps, nil
}

// RemoveAppAccess withdraws a product's access to the account: the consent is forgotten (the
// next sign-in through it asks again) and every grant of the person for it is revoked, with
// all its refresh and access tokens, in one transaction. ErrNoSuchApp when the client holds
// no access to this account, so that one person cannot probe another's apps; nil, changing
// nothing, when it is the person's own withdrawal of a moment ago asked again (repeatOf).
func (s *Service) RemoveAppAccess(ctx context.Context, userID, clientID string, m Meta) error {
	apps, err := s.Apps(ctx, userID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(apps, func(a App) bool { return a.Client.ID == clientID }) {
		if again, err := s.repeatOf(ctx, userID, "app_access_removed", clientID); err != nil || again {
			return err
		}
		return ErrNoSuchApp
	}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		// The person first: an Allow of the same app on another instance waits for this
		// withdrawal (or this for it), instead of writing back the scopes withdrawn here.
		if err := consent.LockConsents(ctx, tx, userID); err != nil {
			return err
		}
		// The app's live grants, read before they are revoked: the app is told, in this
		// transaction, that the person signed out of it (back-channel logout), so its own
		// sessions of the person end with its access instead of running on.
		all, err := tx.ListGrants(ctx, userID)
		if err != nil {
			return err
		}
		var theirs []*storage.Grant
		for _, g := range all {
			if g.ClientID == clientID && g.RevokedAt == nil {
				theirs = append(theirs, g)
			}
		}
		if err := tx.DeleteConsent(ctx, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if err := tx.RevokeUserClientGrants(ctx, userID, clientID, s.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		em := m
		em.ClientID = clientID
		if err := s.auditIn(ctx, tx, userID, "app_access_removed", em, clientID); err != nil {
			return err
		}
		if len(theirs) == 0 {
			return nil
		}
		return sessions.Tell(ctx, s.SignedOut, tx, sessions.Ended{UserID: userID, Everything: true, Grants: theirs})
	})
	if err != nil {
		return fmt.Errorf("remove access of client %q: %w", clientID, err)
	}
	sessions.Told(s.SignedOut)
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// union is a followed by the items of b it lacks, in order.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
