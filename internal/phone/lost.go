package phone

import (
	"context"
	"encoding/json"
)

// SMSLostEvent is the activity event of an SMS to a person's number that was never sent: the
// outbox gave it up (internal/sms), or the request that was to send it (ResetRequestTask).
// Its detail is the kind of the item lost; it carries no number and no code.
const SMSLostEvent = "sms_lost"

// LostFunc writes the activity event typ on the account userID, with the app clientID (if
// any) and detail, once per given-up item, and nothing when userID is no account's
// (account.Service.Lost).
type LostFunc func(ctx context.Context, userID, typ, clientID, detail string)

// GivenUp is the outbox's mail.GivenUpFunc of ResetRequestTask: the account whose confirmed
// number was typed (Owner, as RunResetRequest would have found it) gets an SMSLostEvent, as
// a reset request by email names its account (account.Service.GivenUp). A number without
// such an account writes nothing: nothing may tell that it has none. A failed look-up is
// logged.
func (s *Service) GivenUp(ctx context.Context, kind string, payload []byte) {
	var r resetRequest
	if s.Lost == nil || s.Reset == nil || json.Unmarshal(payload, &r) != nil || r.E164 == "" {
		return
	}
	u, err := s.Owner(ctx, r.E164)
	if err != nil {
		s.log().ErrorContext(ctx, "given-up sms reset request: look up its account", "kind", kind, "err", err)
		return
	}
	if u != nil {
		s.Lost(ctx, u.ID, SMSLostEvent, "", kind)
	}
}
