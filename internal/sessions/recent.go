package sessions

import (
	"errors"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// ReauthWindow is how recent a session's sign-in must be for a change to how the account
// signs in: a factor added or removed, recovery codes replaced, remembered browsers
// forgotten, a phone number added or removed. A browser left signed in (or a stolen
// session) must not quietly weaken the account, or lock its owner out with a factor of its
// own.
const ReauthWindow = 5 * time.Minute

// ReauthSkew is how far ahead of this instance's clock a sign-in may lie and still count:
// the clocks of the instances that share the database differ by a little. One further
// ahead was stamped by a clock that ran ahead, or before this one was set back; counting it
// would make it recent for as long as it lies ahead, plus the window.
const ReauthSkew = time.Minute

// ErrNotRecent means the change needs the person to sign in again first.
var ErrNotRecent = errors.New("sessions: sign in again before this change")

// Recent is a session whose sign-in was recent enough for such a change when the request
// began. Only Service.Recent makes one, and the services that make those changes (mfa,
// phone) take a Recent instead of a user id: no entry point can reach them without the check,
// which used to live in the UI's handlers alone.
type Recent struct {
	userID string
}

// UserID is the person the session is of.
func (r Recent) UserID() string { return r.userID }

// Check is ErrNotRecent for a Recent not made by Service.Recent (its zero value).
func (r Recent) Check() error {
	if r.userID == "" {
		return ErrNotRecent
	}
	return nil
}

// Recent checks that s (a live session, as Resolve returns) was signed in within
// ReauthWindow, and not later than ReauthSkew ahead of now.
func (s *Service) Recent(sess *storage.Session) (Recent, error) {
	if sess == nil || sess.UserID == "" {
		return Recent{}, ErrNotRecent
	}
	if age := s.now().Sub(sess.AuthTime); age > ReauthWindow || age < -ReauthSkew {
		return Recent{}, ErrNotRecent
	}
	return Recent{userID: sess.UserID}, nil
}
