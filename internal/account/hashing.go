package account

import (
	"context"
	"fmt"

	"golang.org/x/text/unicode/norm"

	"github.com/myaccount/myaccount/internal/fault"
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

// Passwords are hashed in Unicode NFC, so that "é" typed as one code point or as "e" plus a
// combining accent (macOS and some keyboards send the latter) is the same password.

// hashPassword returns the argon2id hash of password, in NFC.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	hash, err := s.Hasher.Hash(norm.NFC.String(password))
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// verifyPassword reports whether password matches hash. It tries the NFC form first, then,
// when that differs, the string as typed: hashes made before passwords were normalised are
// of the raw string. legacy reports a match of the raw form only; the caller rehashes then.
// A malformed hash is no match; the error is only the limiter's.
func (s *Service) verifyPassword(ctx context.Context, hash, password string) (ok, legacy bool, err error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	nfc := norm.NFC.String(password)
	if ok, err := s.Hasher.Verify(hash, nfc); ok && err == nil {
		return true, false, nil
	}
	if nfc == password {
		return false, false, nil
	}
	ok, err = s.Hasher.Verify(hash, password)
	return ok && err == nil, ok && err == nil, nil
}

// dummyVerify does the work of a verification when there is no hash to check, so that the
// answer takes as long as for a wrong password.
func (s *Service) dummyVerify(ctx context.Context, password string) error {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	s.Hasher.DummyVerify(password)
	return nil
}
