package account

import "time"

// SetPadHook makes s report each padding of a password check to f instead of waiting it.
func SetPadHook(s *Service, f func(time.Duration)) { s.padHook = f }

// TypicalHashCost is what s has measured a hash at its configured cost to take.
func TypicalHashCost(s *Service) time.Duration { return s.cost.typical() }

// PasswordForms is passwordForms.
var PasswordForms = passwordForms
