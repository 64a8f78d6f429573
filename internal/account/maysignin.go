package account

import "github.com/myaccount/myaccount/storage"

// MaySignIn is the one rule of whether the person of account u, having proved who they are
// (a password, a passkey), may sign in, and of whether a sign-in under way may go on: nil
// for an active account, ErrNotActive for one not yet activated, ErrLocked for one an
// operator locked or disabled (and for any status this version does not know: refused is
// the safe answer). Callers ask it only after the proof and tell the answer only then, so
// that an account's state shows to nobody who cannot sign in to it.
//
// Which accounts may is storage.User.MaySignIn's, which the layers below this one (an
// established session, a token, an admin actor) ask directly.
func MaySignIn(u *storage.User) error {
	switch {
	case u.MaySignIn():
		return nil
	case u.Status == storage.UserPending:
		return ErrNotActive
	default:
		return ErrLocked
	}
}
