package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// ErrPasswordChanged: the password change asked for was made already, by the same form
// sent again (a reload, the back button) after its first answer: the "current" password
// it carries is the old one, and the new one is the account's since a change a moment ago.
var ErrPasswordChanged = errors.New("account: the password was already changed to this one")

// repeatOf is the rule for a form sent again after its change committed: it reports whether
// the person userID's activity holds, within sessions.RepeatWindow, the event typ that change wrote
// (for clientID, "" for any). The event is the person's own, so the answer tells them only
// what they did.
func (s *Service) repeatOf(ctx context.Context, userID, typ, clientID string) (bool, error) {
	events, err := s.Store.ListAuditEvents(ctx, userID, 20)
	if err != nil {
		return false, fmt.Errorf("look for %s: %w", typ, err)
	}
	since := s.now().Add(-sessions.RepeatWindow)
	for _, e := range events {
		if e.CreatedAt.Before(since) {
			break // newest first
		}
		if e.Type == typ && (clientID == "" || e.ClientID == clientID) {
			return true, nil
		}
	}
	return false, nil
}

// changedTo reports whether a password change refused for a wrong current password is the
// repeat of the change to next just made: the account's password is next, set by a change
// within sessions.RepeatWindow. next is checked as a current password is, counted when wrong: the
// form's two fields must not be two guesses for the price of one (a stolen session trying
// passwords after a change).
func (s *Service) changedTo(ctx context.Context, u *storage.User, current, next string, m Meta) (bool, error) {
	if next == "" || next == current {
		return false, nil
	}
	if recent, err := s.repeatOf(ctx, u.ID, "password_changed", ""); err != nil || !recent {
		return false, err
	}
	switch err := s.checkPassword(ctx, u, next, m); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrInvalidCredentials):
		return false, nil // counted; the answer is the current password's
	default:
		return false, err
	}
}
