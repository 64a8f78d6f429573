package keys

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// fakeStore is an in-memory storage.KeyStore that counts calls. Each method is atomic, like
// a transaction; it yields between calls so concurrent tests interleave.
type fakeStore struct {
	mu    sync.Mutex
	keys  map[string]*storage.SigningKey
	calls map[string]int
	// listErr, when set, is what ListSigningKeys answers.
	listErr error
}

func newFakeStore() *fakeStore {
	return &fakeStore{keys: make(map[string]*storage.SigningKey), calls: make(map[string]int)}
}

func (s *fakeStore) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *fakeStore) enter(method string) func() {
	runtime.Gosched()
	s.mu.Lock()
	s.calls[method]++
	return s.mu.Unlock
}

func (s *fakeStore) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	defer s.enter("Create")()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("fake: key %s: %w", k.ID, storage.ErrConflict)
	}
	s.keys[k.ID] = cloneKey(k)
	return nil
}

func (s *fakeStore) ListSigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	defer s.enter("List")()
	if s.listErr != nil {
		return nil, s.listErr
	}
	out := make([]*storage.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	return out, nil
}

func (s *fakeStore) UpdateSigningKey(ctx context.Context, id string, fn func(*storage.SigningKey) error) error {
	defer s.enter("Update")()
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("fake: key %s: %w", id, storage.ErrNotFound)
	}
	c := cloneKey(k)
	if err := fn(c); err != nil {
		return err
	}
	c.ID = id
	s.keys[id] = c
	return nil
}

func (s *fakeStore) DeleteSigningKey(ctx context.Context, id string) error {
	defer s.enter("Delete")()
	if _, ok := s.keys[id]; !ok {
		return fmt.Errorf("fake: key %s: %w", id, storage.ErrNotFound)
	}
	delete(s.keys, id)
	return nil
}

// get returns a copy of one stored key (nil if absent), bypassing the call counters.
func (s *fakeStore) get(id string) *storage.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[id]; ok {
		return cloneKey(k)
	}
	return nil
}

// mutate edits a stored key directly, as an attacker or a bug with database access would.
func (s *fakeStore) mutate(id string, fn func(*storage.SigningKey)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.keys[id])
}

// inState returns copies of the stored keys of alg in state.
func (s *fakeStore) inState(alg, state string) []*storage.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.SigningKey
	for _, k := range s.keys {
		if k.Alg == alg && k.State == state {
			out = append(out, cloneKey(k))
		}
	}
	return out
}

func cloneKey(k *storage.SigningKey) *storage.SigningKey {
	c := *k
	c.Sealed = bytes.Clone(k.Sealed)
	c.PublicJWK = bytes.Clone(k.PublicJWK)
	c.ActivatedAt = cloneTime(k.ActivatedAt)
	c.RetiredAt = cloneTime(k.RetiredAt)
	c.DeleteAfter = cloneTime(k.DeleteAfter)
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
