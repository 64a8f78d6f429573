package account

import "time"

// ActivationLinkValidity is how long an activation link works: what the registration page
// and the activation mail both state, from the one setting (accounts.activation_ttl).
func (s *Service) ActivationLinkValidity() time.Duration { return s.activationTTL() }

// ResetLinkValidity is how long a password-reset link works, for the page that says a link
// was sent.
func (s *Service) ResetLinkValidity() time.Duration { return s.resetTTL() }
