package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/myaccount/myaccount/storage"
)

// Roles decide what a person may do in the admin API and the console (see Actor.Effective).
// They are read from the account at every request (PersonActor), never carried in a token or
// a session: a revoked role ends the person's access at once, and a granted one gives it at
// their next request.

// ValidRole refuses (with a *ValidationError) what is not one of storage.Roles.
func ValidRole(role string) error {
	if slices.Contains(storage.Roles, role) {
		return nil
	}
	return &ValidationError{Problems: []Problem{{Field: "role", Value: role,
		Sentence: fmt.Sprintf("unknown role %q (roles: %s)", role, strings.Join(storage.Roles, ", "))}}}
}

// GrantRole gives the person the role (granting a held role again changes nothing, and is
// audited all the same). It returns the person's roles after the change.
func (s *Service) GrantRole(ctx context.Context, a Actor, id, role, reason string) ([]string, error) {
	return s.changeRole(ctx, a, id, role, reason, true)
}

// RevokeRole takes the role away from the person (ErrWrongState when they do not hold it).
// It returns the person's roles after the change.
func (s *Service) RevokeRole(ctx context.Context, a Actor, id, role, reason string) ([]string, error) {
	return s.changeRole(ctx, a, id, role, reason, false)
}

// errNotHeld is a revoke of a role the person does not hold; it rolls the transaction back.
var errNotHeld = errors.New("admin: role not held")

// changeRole grants or revokes a role. The change and its audit event ("role_granted",
// "role_revoked": also an event of the person's own activity, since who may administer is
// security activity) are one transaction: a failure of either does neither, and the retry
// does both.
func (s *Service) changeRole(ctx context.Context, a Actor, id, role, reason string, grant bool) ([]string, error) {
	if err := authorize(a, ManageRoles); err != nil {
		return nil, err
	}
	if err := ValidRole(role); err != nil {
		return nil, err
	}
	typ := "role_revoked"
	if grant {
		typ = "role_granted"
	}
	var (
		email string
		roles []string
	)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		u, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		email = u.Email
		if grant {
			err = tx.GrantRole(ctx, id, role, s.now())
		} else if err = tx.RevokeRole(ctx, id, role); errors.Is(err, storage.ErrNotFound) {
			return errNotHeld
		}
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		e := s.event(a, typ, "user:"+id, reason, fmt.Sprintf(`{"actor":%q,"role":%q}`, a.ID(), role))
		e.UserID = id
		if err := s.addEvent(ctx, tx, e); err != nil {
			return err
		}
		roles, err = tx.ListUserRoles(ctx, id)
		return err
	})
	if errors.Is(err, errNotHeld) {
		return nil, fmt.Errorf("%s does not have the role %s: %w", email, role, ErrWrongState)
	}
	if err != nil {
		return nil, notFound(err, typ+" user "+id)
	}
	return roles, nil
}
