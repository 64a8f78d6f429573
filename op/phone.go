package op

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/storage"
)

// fillPhone adds the phone scope's claims (OIDC Core 5.4): the verified number in E.164 and
// phone_number_verified. Only verified numbers are stored as the person's number (a pending
// one is not theirs yet), so the flag is always true when the number is there; without a
// number both claims are left out. A store failure is ours, never "no number".
func (s *opStorage) fillPhone(ctx context.Context, ui *oidc.UserInfo, userID string) error {
	var p *storage.Phone
	if ri := requestInfoFrom(ctx); ri.tokenPhoneRead && ri.tokenUser != nil && ri.tokenUser.ID == userID {
		p = ri.tokenPhone // read with what the tokens are issued from (holdTokenUser)
	} else {
		var err error
		if p, err = s.phoneOf(ctx, userID); err != nil {
			return err
		}
	}
	if p == nil {
		return nil
	}
	ui.PhoneNumber = p.E164
	ui.PhoneNumberVerified = true
	return nil
}

// phoneOf returns the person's verified number, nil when they have none.
func (s *opStorage) phoneOf(ctx context.Context, userID string) (*storage.Phone, error) {
	p, err := s.store.GetPhone(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case err != nil:
		noteStoreFailure(ctx, err)
		return nil, fmt.Errorf("userinfo phone: %w", err)
	}
	return p, nil
}

// holdTokenUser keeps u, and their number when scopes ask for the phone claims, for the ID
// token of this request (fillUserinfo). It is called where the tokens' source is read and
// not yet used (a code, a refresh token, a device code): a read that failed after the use
// would leave the client a used credential, whose retry is refused, for a failure of ours.
func (s *opStorage) holdTokenUser(ctx context.Context, u *storage.User, scopes []string) error {
	ri := requestInfoFrom(ctx)
	ri.tokenUser, ri.tokenPhone, ri.tokenPhoneRead = u, nil, false
	if u == nil || !slices.Contains(scopes, oidc.ScopePhone) {
		return nil
	}
	p, err := s.phoneOf(ctx, u.ID)
	if err != nil {
		return err
	}
	ri.tokenPhone, ri.tokenPhoneRead = p, true
	return nil
}
