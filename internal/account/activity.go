package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/storage"
)

// Activity is one entry of a person's security activity as they are shown it.
type Activity struct {
	*storage.AuditEvent
	// ClientName names the application the event concerns: the client's name, its id when
	// the client is gone, "" when the event concerns none.
	ClientName string
}

// RecentActivity returns the person's newest security events, at most limit, newest first.
func (s *Service) RecentActivity(ctx context.Context, userID string, limit int) ([]Activity, error) {
	events, err := s.Store.ListAuditEvents(ctx, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list activity: %w", err)
	}
	names := map[string]string{}
	out := make([]Activity, len(events))
	for i, e := range events {
		out[i] = Activity{AuditEvent: e}
		if e.ClientID == "" {
			continue
		}
		name, seen := names[e.ClientID]
		if !seen {
			cl, err := s.Store.GetClient(ctx, e.ClientID)
			switch {
			case err == nil:
				name = cl.Name
			case errors.Is(err, storage.ErrNotFound):
				name = e.ClientID
			default:
				return nil, fmt.Errorf("list activity: %w", err)
			}
			names[e.ClientID] = name
		}
		out[i].ClientName = name
	}
	return out, nil
}
