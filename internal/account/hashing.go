package account

import (
	"context"
	"fmt"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/secret"
)

// Every password hash and verification of the package runs through these, under the
// service's Limiter (Service.Hashes). A refusal (secret.ErrBusy: every slot and the queue
// taken) or a wait cut short by the request's end is our failure, not the person's: it is
// marked and recorded with fault, so the HTTP layer answers 503 "try again" instead of
// "wrong password".

// hashSlot takes a hashing slot; the caller must call release.
func (s *Service) hashSlot(ctx context.Context) (release func(), err error) {
	release, err = s.Hashes.Acquire(ctx)
	if err != nil {
		return nil, fault.Record(ctx, fmt.Errorf("password hashing: %w", err))
	}
	return release, nil
}

// hashPassword returns the argon2id hash of password.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	hash, err := secret.HashPassword(password)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// verifyPassword reports whether password matches hash. A malformed hash is no match; the
// error is only the limiter's.
func (s *Service) verifyPassword(ctx context.Context, hash, password string) (bool, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	ok, err := secret.VerifyPassword(hash, password)
	return ok && err == nil, nil
}

// dummyVerify does the work of a verification when there is no hash to check, so that the
// answer takes as long as for a wrong password.
func (s *Service) dummyVerify(ctx context.Context, password string) error {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	secret.DummyVerify(password)
	return nil
}
