// Package clientcache keeps the clients a store has read for a short time, so that the
// token, introspection and revocation endpoints do not read the same row for every request
// of a busy client (a SQL read was about a tenth of a client_credentials grant's CPU).
//
// Within the process the cache is exact: every client write through this store (create,
// update, delete, in or out of a transaction) empties it. Writes by another process (the
// CLI, another instance behind the load balancer) are seen after at most the TTL: a deleted
// or changed client keeps its old settings on this instance for that long. A rotated secret
// is the one change a client would notice at once (its new secret refused); op checks a
// refused secret once more against an uncached read (GetClientUncached), so it never is.
package clientcache

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// maxEntries bounds the cache. Only clients that exist are kept, so it holds the busy
// clients of a deployment; past this it is emptied and refills.
const maxEntries = 4096

// Store is a storage.Store whose GetClient answers from memory for up to the TTL.
type Store struct {
	storage.Store
	c *cache
}

type cache struct {
	ttl time.Duration
	now func() time.Time
	// gen changes with every client write; an entry of an older generation is not used.
	gen atomic.Uint64
	mu  sync.RWMutex
	m   map[string]entry
}

type entry struct {
	c   *storage.Client
	at  time.Time
	gen uint64
}

// New caches inner's clients for ttl (no caching when ttl <= 0). now is the clock.
func New(inner storage.Store, ttl time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{Store: inner, c: &cache{ttl: ttl, now: now, m: map[string]entry{}}}
}

// GetClient returns a copy of the client, from memory when it was read less than the TTL ago
// and no client was written since.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if s.c.ttl <= 0 {
		return s.Store.GetClient(ctx, id)
	}
	g := s.c.gen.Load()
	s.c.mu.RLock()
	e, ok := s.c.m[id]
	s.c.mu.RUnlock()
	if ok && e.gen == g && s.c.now().Sub(e.at) < s.c.ttl {
		return clone(e.c), nil
	}
	return s.read(ctx, id)
}

// GetClientUncached reads the client from the store (and refreshes the cache with it).
func (s *Store) GetClientUncached(ctx context.Context, id string) (*storage.Client, error) {
	return s.read(ctx, id)
}

func (s *Store) read(ctx context.Context, id string) (*storage.Client, error) {
	g := s.c.gen.Load()
	at := s.c.now()
	c, err := s.Store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.c.ttl > 0 {
		s.c.mu.Lock()
		// A write that began after the read started may have changed the row under it: only
		// a read that no write overlapped is kept.
		if s.c.gen.Load() == g {
			if len(s.c.m) >= maxEntries {
				clear(s.c.m)
			}
			s.c.m[id] = entry{c: clone(c), at: at, gen: g}
		}
		s.c.mu.Unlock()
	}
	return c, nil
}

// invalidate forgets every entry: called before and after each client write, so that no
// read overlapping the write is kept.
func (c *cache) invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

func (s *Store) CreateClient(ctx context.Context, cl *storage.Client) error {
	return createClient(ctx, s.Store, s.c, cl)
}

func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (*storage.Client, error) {
	return updateClient(ctx, s.Store, s.c, id, fn)
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return deleteClient(ctx, s.Store, s.c, id)
}

// InTx runs fn in a transaction whose store reads clients uncached (a transaction sees its
// own writes) and invalidates the cache on client writes. A client written in the
// transaction is invalidated again once it has committed or rolled back, so that a read
// between the write and the commit is not kept either.
func (s *Store) InTx(ctx context.Context, fn func(storage.Store) error) error {
	return inTx(ctx, s.Store, s.c, fn)
}

// txStore is the store inside a transaction: no cached reads, writes invalidate the cache.
type txStore struct {
	storage.Store
	c *cache
}

func (s *txStore) CreateClient(ctx context.Context, cl *storage.Client) error {
	return createClient(ctx, s.Store, s.c, cl)
}

func (s *txStore) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (*storage.Client, error) {
	return updateClient(ctx, s.Store, s.c, id, fn)
}

func (s *txStore) DeleteClient(ctx context.Context, id string) error {
	return deleteClient(ctx, s.Store, s.c, id)
}

func (s *txStore) InTx(ctx context.Context, fn func(storage.Store) error) error {
	return inTx(ctx, s.Store, s.c, fn)
}

func createClient(ctx context.Context, st storage.Store, c *cache, cl *storage.Client) error {
	c.invalidate()
	defer c.invalidate()
	return st.CreateClient(ctx, cl)
}

func updateClient(ctx context.Context, st storage.Store, c *cache, id string, fn func(*storage.Client) error) (*storage.Client, error) {
	c.invalidate()
	defer c.invalidate()
	return st.UpdateClient(ctx, id, fn)
}

func deleteClient(ctx context.Context, st storage.Store, c *cache, id string) error {
	c.invalidate()
	defer c.invalidate()
	return st.DeleteClient(ctx, id)
}

func inTx(ctx context.Context, st storage.Store, c *cache, fn func(storage.Store) error) error {
	g := c.gen.Load()
	err := st.InTx(ctx, func(tx storage.Store) error { return fn(&txStore{Store: tx, c: c}) })
	if c.gen.Load() != g {
		c.invalidate()
	}
	return err
}

// clone copies a client so that no caller can change the cached one.
func clone(c *storage.Client) *storage.Client {
	cp := *c
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	cp.Scopes = slices.Clone(c.Scopes)
	cp.Resources = slices.Clone(c.Resources)
	return &cp
}
