package op

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/storage"
)

// SessionEnder ends a browser session the way every sign-out does (sessions.Service.End):
// revoked, and the clients holding grants in it told by back-channel logout.
type SessionEnder interface {
	End(ctx context.Context, sessionID string) error
}

// endSession ends the session sid for end_session. Without a configured ender (tests of the
// provider alone) the session is only revoked.
func (s *opStorage) endSession(ctx context.Context, sid string) error {
	if s.sessions != nil {
		return s.sessions.End(ctx, sid)
	}
	if err := s.store.RevokeSession(ctx, sid, s.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
