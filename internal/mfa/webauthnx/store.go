package webauthnx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Store is what recording a sign-in needs from storage.
type Store interface {
	GetMFACredentialByCredentialID(ctx context.Context, credentialID []byte) (*storage.MFACredential, error)
	UpdateMFACredential(ctx context.Context, id string, fn func(*storage.MFACredential) error) (*storage.MFACredential, error)
}

// NewMFACredential returns the storage row for a registration: the credential record as JSON
// in Secret (it holds only the public key), its id in CredentialID, its counter in SignCount.
func NewMFACredential(userID, name string, r *Registration, now time.Time) (*storage.MFACredential, error) {
	blob, err := json.Marshal(r.Credential)
	if err != nil {
		return nil, fmt.Errorf("webauthnx: encode credential: %w", err)
	}
	return &storage.MFACredential{
		ID: secret.NewID(), UserID: userID, Kind: storage.MFAWebAuthn, Name: name,
		CredentialID: r.Credential.ID, Secret: blob, SignCount: r.Credential.Authenticator.SignCount,
		CreatedAt: now,
	}, nil
}

// Credential decodes one stored WebAuthn row. The SignCount column is authoritative over the
// count inside the JSON: it is the value Record compares and writes under the row lock.
func Credential(row *storage.MFACredential) (webauthn.Credential, error) {
	var c webauthn.Credential
	if row.Kind != storage.MFAWebAuthn {
		return c, fmt.Errorf("webauthnx: credential %q is %q, not webauthn", row.ID, row.Kind)
	}
	if err := json.Unmarshal(row.Secret, &c); err != nil {
		return c, fmt.Errorf("webauthnx: decode credential %q: %w", row.ID, err)
	}
	if !bytes.Equal(c.ID, row.CredentialID) {
		return c, fmt.Errorf("webauthnx: credential %q: record and column ids differ", row.ID)
	}
	c.Authenticator.SignCount = row.SignCount
	return c, nil
}

// Credentials returns the person's usable WebAuthn credentials from their stored rows
// (storage's ListMFACredentials), for User.Credentials. TOTP rows are skipped, and so are
// flagged ones: a credential suspected of being cloned may not sign in until the person
// removes it and registers again.
func Credentials(rows []*storage.MFACredential) ([]webauthn.Credential, error) {
	var out []webauthn.Credential
	for _, r := range rows {
		if r.Kind != storage.MFAWebAuthn || r.Flagged {
			continue
		}
		c, err := Credential(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Record stores the outcome of FinishLogin or FinishDiscoverableLogin for userID's
// credential. Call it both on success and on ErrCloned. Inside UpdateMFACredential's
// transaction (the row locked) it compares the presented counter with the stored one again, so
// that two concurrent sign-ins presenting the same counter (a replay, or two copies of a key)
// cannot both pass: when the counter advanced, the new count, record and last use are saved;
// when it did not, the credential is flagged and Record returns ErrCloned.
func Record(ctx context.Context, store Store, userID string, a *Assertion, now time.Time) error {
	if a == nil || a.Credential == nil {
		return errors.New("webauthnx: record: no assertion")
	}
	row, err := store.GetMFACredentialByCredentialID(ctx, a.Credential.ID)
	if err != nil {
		return fmt.Errorf("webauthnx: record: %w", err)
	}
	if row.UserID != userID || row.Kind != storage.MFAWebAuthn {
		return fmt.Errorf("%w: credential belongs to someone else", ErrUnknownCredential)
	}
	cloned := false
	_, err = store.UpdateMFACredential(ctx, row.ID, func(c *storage.MFACredential) error {
		cloned = c.Flagged || !counterAdvanced(c.SignCount, a.SignCount)
		if cloned {
			c.Flagged = true
			return nil
		}
		rec := *a.Credential
		rec.Authenticator.SignCount = a.SignCount
		rec.Authenticator.CloneWarning = false
		blob, err := json.Marshal(&rec)
		if err != nil {
			return fmt.Errorf("encode credential: %w", err)
		}
		c.Secret, c.SignCount, c.LastUsedAt = blob, a.SignCount, &now
		return nil
	})
	if err != nil {
		return fmt.Errorf("webauthnx: record: %w", err)
	}
	if cloned {
		return ErrCloned
	}
	return nil
}

// TxStore runs a function in a transaction (storage.Store).
type TxStore interface {
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// RecordTold is Record in a transaction of store's that, when the key turns out copied (it is
// flagged: ErrCloned), also runs tell (nil: nothing), which writes what tells the person of
// the block (their activity event): the block and its telling commit together or not at all.
// A failure of either is returned wrapped, and blocks nothing.
func RecordTold(ctx context.Context, store TxStore, userID string, a *Assertion, now time.Time, tell func(context.Context, storage.Store) error) error {
	cloned := false
	err := store.InTx(ctx, func(tx storage.Store) error {
		cloned = false // a retried transaction starts over
		err := Record(ctx, tx, userID, a, now)
		if !errors.Is(err, ErrCloned) {
			return err
		}
		cloned = true
		if tell == nil {
			return nil
		}
		if err := tell(ctx, tx); err != nil {
			return fmt.Errorf("webauthnx: tell of a copied key: %w", err)
		}
		return nil
	})
	if err == nil && cloned {
		return ErrCloned
	}
	return err
}

// NewUser returns the WebAuthn view of an account with its usable credentials (see
// Credentials) from its stored rows.
func NewUser(u *storage.User, rows []*storage.MFACredential) (*User, error) {
	creds, err := Credentials(rows)
	if err != nil {
		return nil, err
	}
	return &User{Handle: UserHandle(u.ID), Name: u.Email, DisplayName: u.Name, Credentials: creds}, nil
}

// LookupStore is what StoreLookup needs from storage.
type LookupStore interface {
	GetMFACredentialByCredentialID(ctx context.Context, credentialID []byte) (*storage.MFACredential, error)
	ListMFACredentials(ctx context.Context, userID string) ([]*storage.MFACredential, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// StoreLookup returns the Lookup for FinishDiscoverableLogin over the store: the credential
// by id, refused when flagged, then its owner with their usable credentials. Whether the
// account may sign in at all (its status, a lockout) is for the caller to check on the user
// it gets back, as after a password.
func StoreLookup(ctx context.Context, s LookupStore) Lookup {
	return func(credentialID, _ []byte) (*User, error) {
		row, err := s.GetMFACredentialByCredentialID(ctx, credentialID)
		if err != nil {
			return nil, err
		}
		if row.Kind != storage.MFAWebAuthn || row.Flagged {
			return nil, fmt.Errorf("%w: credential %q is flagged or not webauthn", ErrUnknownCredential, row.ID)
		}
		u, err := s.GetUser(ctx, row.UserID)
		if err != nil {
			return nil, err
		}
		rows, err := s.ListMFACredentials(ctx, row.UserID)
		if err != nil {
			return nil, err
		}
		return NewUser(u, rows)
	}
}
