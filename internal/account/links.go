package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// LinkUsedError is an emailed link presented again after it was used, while what that use
// did still stands: the person double-clicked, the browser resubmitted, or the first answer
// was lost after the change committed. The page then says what the link did instead of
// "expired", which for an account that was in fact activated told its owner to start again.
// errors.Is(err, ErrLinkInvalid) holds, so a caller that has no such page answers as before.
//
// It is only made from the link's own token row (useLinkIn), so it tells nothing to anyone
// who does not hold the link, and carries nothing the link's mail did not already say.
type LinkUsedError struct {
	// Purpose is the link's kind: storage.TokenActivation, TokenReset, TokenEmailChange or
	// TokenNotMe.
	Purpose string
	// Continue is, for an activation link, the authorization request the registration
	// started in ("" for none), as the first use continued it.
	Continue string
	// Email is, for an email-change link, the address it confirmed: the account's address
	// now, and the one the link's mail went to.
	Email string
}

func (e *LinkUsedError) Error() string { return "account: " + e.Purpose + " link already used" }

// Is makes a used link an invalid one for callers that do not tell the two apart.
func (e *LinkUsedError) Is(target error) bool { return target == ErrLinkInvalid }

// useLinkIn uses up an emailed link of purpose through tx and returns its token. It is the one
// rule for a link that cannot be used: an unknown, expired or revoked link is ErrLinkInvalid;
// a used one is a *LinkUsedError when its first use still stands (usedLink), ErrLinkInvalid
// otherwise; a storage failure stays a failure (ours, not the link's), wrapped with op.
func useLinkIn(ctx context.Context, tx storage.Store, op, token, purpose string, now time.Time) (*storage.OneTimeToken, error) {
	t, err := tx.ConsumeOneTimeToken(ctx, secret.HashToken(token), purpose, now)
	switch {
	case err == nil:
		return t, nil
	case errors.Is(err, storage.ErrAlreadyUsed) && t != nil:
		used, err := usedLink(ctx, tx, t)
		if err != nil {
			return nil, fmt.Errorf("%s: used link: %w", op, err)
		}
		if used != nil {
			return nil, used
		}
		return nil, ErrLinkInvalid
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed),
		errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrRevoked):
		return nil, ErrLinkInvalid
	}
	return nil, fmt.Errorf("%s: %w", op, err)
}

// usedLink decides what a repeat of used link t means, from its account as it is now: nil
// when what the first use did no longer stands (or the account is gone), and the answer to
// give is the generic one.
func usedLink(ctx context.Context, st storage.UserStore, t *storage.OneTimeToken) (*LinkUsedError, error) {
	u, err := st.GetUser(ctx, t.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch t.Purpose {
	case storage.TokenActivation:
		// Active, as the first use left it; an account that may not sign in (locked,
		// disabled) is not told to.
		if u.MaySignIn() {
			return &LinkUsedError{Purpose: t.Purpose, Continue: t.Data}, nil
		}
	case storage.TokenReset:
		// The new password may have changed since, but it was set with this link; a locked
		// account cannot sign in with it.
		if u.MaySignIn() {
			return &LinkUsedError{Purpose: t.Purpose}, nil
		}
	case storage.TokenEmailChange:
		// Only while the address is still the one the link confirmed: later changes are
		// not the link holder's to learn.
		if u.EmailNormalized == NormalizeEmail(t.Data) {
			return &LinkUsedError{Purpose: t.Purpose, Email: t.Data}, nil
		}
	case storage.TokenNotMe:
		// What it did (a random password, every session and grant ended) holds whatever
		// happened after.
		return &LinkUsedError{Purpose: t.Purpose}, nil
	}
	return nil, nil
}

// voidOtherLinksIn deletes the user's other links of used's purpose through tx, but keeps
// used itself (marked used): its row, collected a day after its use, is what answers it
// again with what it did rather than "expired".
func voidOtherLinksIn(ctx context.Context, tx storage.OneTimeTokenStore, used *storage.OneTimeToken) error {
	if err := tx.DeleteOneTimeTokens(ctx, used.UserID, used.Purpose); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return tx.CreateOneTimeToken(ctx, used)
}

// voidEmailChangesIn ends, through tx, the person's email changes not yet confirmed: a new
// password (a reset, a change, "This wasn't me") ends them as it ends every session.
// Whoever asked for them proved only the password being replaced, perhaps an intruder the
// owner is locking out, and a confirmed change hands the account's recovery to the new
// address.
func voidEmailChangesIn(ctx context.Context, tx storage.OneTimeTokenStore, userID string) error {
	if err := tx.DeleteOneTimeTokens(ctx, userID, storage.TokenEmailChange); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("void email changes: %w", err)
	}
	return nil
}

// errPeek rolls back the transaction LinkUsable looks through.
var errPeek = errors.New("account: peek only")

// LinkUsable reports whether an emailed link (purpose storage.TokenReset, …) can still be
// used, without using it up: the page it opens says at once that a dead link is dead,
// instead of after the person has typed a new password twice. The token is consumed in a
// transaction that is always rolled back, so the one rule for "usable" (useLinkIn) stays
// in the store's single-use statement. A used link whose first use still stands is not
// usable and returned as its *LinkUsedError, for the page to say what it did.
func (s *Service) LinkUsable(ctx context.Context, token, purpose string) (bool, error) {
	_, usable, err := s.peekLink(ctx, token, purpose, false)
	return usable, err
}

// LinkEmail is LinkUsable that also returns the address of the link's account (for the
// reset page's hidden username field, so password managers save the new password under
// it). The link holder received it at that address; nothing new is revealed.
func (s *Service) LinkEmail(ctx context.Context, token, purpose string) (email string, usable bool, err error) {
	return s.peekLink(ctx, token, purpose, true)
}

func (s *Service) peekLink(ctx context.Context, token, purpose string, withEmail bool) (email string, usable bool, err error) {
	if token == "" {
		return "", false, nil
	}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		email, usable = "", false // a retried transaction starts again
		t, err := useLinkIn(ctx, tx, "check link", token, purpose, s.now())
		if err != nil {
			return err
		}
		if !withEmail {
			usable = true
			return errPeek
		}
		u, err := tx.GetUser(ctx, t.UserID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if u != nil {
			email, usable = u.Email, true
		}
		return errPeek
	})
	var used *LinkUsedError
	switch {
	case err == nil, errors.Is(err, errPeek):
		return email, usable, nil
	case errors.As(err, &used):
		return "", false, used
	case errors.Is(err, ErrLinkInvalid):
		return "", false, nil
	}
	return "", false, err
}
