package account

import "github.com/myaccount/myaccount/storage"

// MaySignIn is the one rule of whether the person of account u, having proved who they are
// (a password, a passkey), may sign in, and of whether a sign-in under way may go on: nil
// for an active account, ErrNotActive for one not yet activated, ErrLocked for one an
// operator locked or disabled (and for any status this version does not know: refused is
// the safe answer). Callers ask it only after the proof and tell the answer only then, so
// that an account's state shows to nobody who cannot sign in to it.
//
// sessions.Service.Resolve (an established session) and admin.Service.PersonActor apply
// the same rule to "active" themselves: sessions cannot import this package (it imports
// sessions).
func MaySignIn(u *storage.User) error {
	switch u.Status {
	case storage.UserActive:
		return nil
	case storage.UserPending:
		return ErrNotActive
	default:
		return ErrLocked
	}
}
