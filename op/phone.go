package op

import (
	"context"
	"errors"
	"fmt"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/storage"
)

// fillPhone adds the phone scope's claims (OIDC Core 5.4): the verified number in E.164 and
// phone_number_verified. Only verified numbers are stored as the person's number (a pending
// one is not theirs yet), so the flag is always true when the number is there; without a
// number both claims are left out. A store failure is ours, never "no number".
func (s *opStorage) fillPhone(ctx context.Context, ui *oidc.UserInfo, userID string) error {
	p, err := s.store.GetPhone(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		noteStoreFailure(ctx, err)
		return fmt.Errorf("userinfo phone: %w", err)
	}
	ui.PhoneNumber = p.E164
	ui.PhoneNumberVerified = true
	return nil
}
