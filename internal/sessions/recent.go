package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// RepeatWindow is how long after a change the same form sent again (a reload, the back
// button, an answer lost on the network) is taken for its repeat and answered as the
// change was: long enough for a retry on a slow network, short enough that an old form is
// not answered with what was done long ago. Account and phone changes share it.
const RepeatWindow = 10 * time.Minute

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

// Factors tells whether a sign-in proved the factors the person had when it happened
// (mfa.Service): a sign-in that a remembered browser let skip the authenticator app, or
// that proved an SMS code in its place, did not.
type Factors interface {
	SignInProved(ctx context.Context, userID string, amr []string, at time.Time) (bool, error)
}

// Recent checks that sess (a live session, as Resolve returns) was signed in within
// ReauthWindow, not later than ReauthSkew ahead of now, and with the factors the person had
// then (Service.Factors; nil: the time alone). ErrNotRecent when not; any other error is a
// failure to read the factors (ours: the person is not asked to sign in again for it).
func (s *Service) Recent(ctx context.Context, sess *storage.Session) (Recent, error) {
	if sess == nil || sess.UserID == "" {
		return Recent{}, ErrNotRecent
	}
	if age := s.now().Sub(sess.AuthTime); age > ReauthWindow || age < -ReauthSkew {
		return Recent{}, ErrNotRecent
	}
	if s.Factors != nil {
		ok, err := s.Factors.SignInProved(ctx, sess.UserID, sess.AMR, sess.AuthTime)
		if err != nil {
			return Recent{}, fmt.Errorf("recent sign-in: %w", err)
		}
		if !ok {
			return Recent{}, ErrNotRecent
		}
	}
	return Recent{userID: sess.UserID}, nil
}
