// Package keys manages MyAccount's token signing keys: one active RS256, one active ES256 and
// one active EdDSA (Ed25519) key, sealed at rest under a master key, published as a JWKS
// together with upcoming and recently retired keys, and rotated manually or on a schedule.
// Several instances may share one database: every state change is made inside the store's
// per-row transaction and checks the state it expects, and each instance re-reads the key
// set after at most Options.CacheTTL, or at once (at most every RefreshEvery) when asked
// about a key id it does not know (HasPublicKey).
package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Defaults for Options.
const (
	// DefaultCacheTTL bounds how long a rotation made by another instance goes unseen.
	DefaultCacheTTL = 30 * time.Second
	// DefaultTokenLifetime is used when Options.TokenLifetime is zero: longer than any token
	// we sign, so a retired key outlives everything it signed.
	DefaultTokenLifetime = 24 * time.Hour
)

// RefreshEvery bounds how often a key id missing from the copy in memory has the keys read
// again from the store (HasPublicKey).
const RefreshEvery = time.Second

// RetireMargin is added (with the cache TTL) to the token lifetime when a key is retired. It
// covers clock skew between instances, and is small against the cost of publishing a public
// key a little longer.
const RetireMargin = time.Hour

// rsaBits is the RSA modulus size of new RS256 keys; shorter keys are refused when loading.
const rsaBits = 2048

// Errors returned by Signer.
var (
	// ErrUnsupportedAlgorithm: the algorithm is not one of Algorithms().
	ErrUnsupportedAlgorithm = errors.New("keys: unsupported signing algorithm")
	// ErrNoActiveKey: no usable active key exists for the algorithm (Ensure was not run, or
	// the key cannot be opened with this master key).
	ErrNoActiveKey = errors.New("keys: no active signing key")
)

// errNoChange aborts an UpdateSigningKey closure that found the row in an unexpected state
// (another instance got there first); it is not an error for the caller.
var errNoChange = errors.New("keys: no change")

// Options configure a Manager. The zero value is usable.
type Options struct {
	// TokenLifetime is the longest lifetime of any token a key may sign. A retired key stays
	// published for TokenLifetime + CacheTTL + RetireMargin. Default DefaultTokenLifetime.
	TokenLifetime time.Duration
	// CacheTTL is how long the in-memory key set is trusted before the store is read again,
	// so another instance's rotation is seen within this time. Default DefaultCacheTTL.
	CacheTTL time.Duration
	// Now returns the current time; tests set a fake clock. Default time.Now.
	Now func() time.Time
	// Logger receives key lifecycle events (never key material). Default: discard.
	Logger *slog.Logger
	// OpenSSL chooses how RS256 keys sign: OpenSSLAuto ("" too) through the system's
	// OpenSSL 3 when it loads, falling back to crypto/rsa; OpenSSLOff with crypto/rsa only.
	OpenSSL string
}

// Manager creates, rotates, caches and publishes signing keys. It is safe for concurrent use.
type Manager struct {
	store  storage.KeyStore
	sealer *Sealer
	opts   Options
	log    *slog.Logger
	rsa    *rsaSigning // shared by every RS256 Key this Manager opens

	// cache is the current immutable key set; Signer and PublicKeys read it without locking.
	cache atomic.Pointer[keySet]
	// gen is bumped whenever this instance changes keys; a snapshot from an older generation
	// is stale even if young, which also catches a reload that raced with the change.
	gen atomic.Uint64
	// reload is a one-slot semaphore (a mutex that honours ctx) so that only one caller
	// reads the store when the cache expires; the others wait for its result.
	reload chan struct{}
	// reads counts the reads of the store that have ended (written under reload). failed is
	// the error of the last one when it failed (not by its caller's end), failedAt its time
	// and failedRead its number: callers that waited while that read ran share its failure
	// (snapshot), and a reread for an unknown kid or the JWKS does not ask a failing store
	// again before RefreshEvery (reloadHeld). Guarded by reload.
	reads      atomic.Uint64
	failed     error
	failedAt   time.Time
	failedRead uint64
	// admin serialises this instance's own Ensure, Rotate, RotateIfDue and Prune calls.
	admin sync.Mutex
}

// NewManager returns a Manager over store whose keys are sealed under masterKey (32 bytes).
// It does not touch the store: call Ensure at start-up.
func NewManager(store storage.KeyStore, masterKey []byte, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("keys: nil KeyStore")
	}
	sealer, err := NewSealer(masterKey)
	if err != nil {
		return nil, err
	}
	if opts.TokenLifetime < 0 || opts.CacheTTL < 0 {
		return nil, errors.New("keys: TokenLifetime and CacheTTL must not be negative")
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("component", "keys")
	rsaSign, err := newRSASigning(opts.OpenSSL, log)
	if err != nil {
		return nil, err
	}
	return &Manager{
		store:  store,
		sealer: sealer,
		opts:   opts,
		log:    log,
		rsa:    rsaSign,
		reload: make(chan struct{}, 1),
	}, nil
}

// Key is an unsealed signing key. It is immutable and shared: do not modify what the
// accessors return.
type Key struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	pub  jose.JSONWebKey
	// rsa and accel are set for RS256 keys only (see JOSESigner); accel makes the OpenSSL
	// key at the first signature, nil when signing stays with crypto/rsa.
	rsa   *rsaSigning
	accel func() rsaAccel
}

// ID returns the key id, which goes in the JWS "kid" header.
func (k *Key) ID() string { return k.id }

// Alg returns the JWS algorithm the key signs with.
func (k *Key) Alg() jose.SignatureAlgorithm { return k.alg }

// Private returns the private key (*rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey).
func (k *Key) Private() crypto.Signer { return k.priv }

// Public returns the public key as a JWK with kid, alg and use=sig set, as published.
func (k *Key) Public() jose.JSONWebKey { return k.pub }

// Algorithms returns the signing algorithms the Manager keeps an active key for, in order of
// preference (RS256 is the OIDC default).
func (m *Manager) Algorithms() []jose.SignatureAlgorithm { return Algorithms() }

// Algorithms returns the signing algorithms MyAccount signs tokens with, RS256 first (the
// OIDC default): the one list that client registration, the admin API, the configuration
// and the provider check an algorithm against (Supported).
func Algorithms() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}
}

// AlgorithmNames is Algorithms() as strings, for APIs that take names.
func AlgorithmNames() []string {
	var names []string
	for _, a := range Algorithms() {
		names = append(names, string(a))
	}
	return names
}

// AlgorithmList is Algorithms() for messages: "RS256, ES256, EdDSA".
func AlgorithmList() string { return strings.Join(AlgorithmNames(), ", ") }

// Supported reports whether alg is one of Algorithms(), spelled exactly ("" is not).
func Supported(alg string) bool {
	return slices.Contains(Algorithms(), jose.SignatureAlgorithm(alg))
}

// Signer returns the active key for alg ("RS256", "ES256", "EdDSA"; "" means RS256, the OIDC
// default).
// It is served from memory and reads the store only when the cached set is older than
// CacheTTL, so signing costs no database round trip.
func (m *Manager) Signer(ctx context.Context, alg string) (*Key, error) {
	a, err := parseAlg(alg)
	if err != nil {
		return nil, err
	}
	ks, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	k := ks.active[a]
	if k == nil {
		return nil, fmt.Errorf("%w for %s", ErrNoActiveKey, a)
	}
	return k, nil
}

// PublicKeys returns the public keys to publish in the JWKS: every next, active and retired
// key whose DeleteAfter has not passed, active keys first. The public keys are derived from
// the unsealed private keys rather than trusted from the PublicJWK column, so someone who can
// write to the database but does not have the master key cannot publish a key of their own.
func (m *Manager) PublicKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	ks, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return m.publicOf(ks), nil
}

// publicOf is ks's JWKS at this moment.
func (m *Manager) publicOf(ks *keySet) []jose.JSONWebKey {
	now := m.opts.Now()
	out := make([]jose.JSONWebKey, 0, len(ks.published))
	for _, p := range ks.published {
		if p.deleteAfter != nil && now.After(*p.deleteAfter) {
			continue
		}
		out = append(out, p.key.pub)
	}
	return out
}

// PublishedKeys is PublicKeys for the JWKS endpoint: from a copy read less than
// RefreshEvery ago. A relying party that meets a kid it does not know fetches the JWKS
// again, and behind a load balancer not necessarily from the instance that signed: after a
// forced rotation there, this instance must publish the new key within a second, not
// CacheTTL. While another caller is reading the keys, or when the read fails, the copy is
// served as PublicKeys would serve it, so a slow or failing database holds up one JWKS
// request a second, not every one.
func (m *Manager) PublishedKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	if ks := m.cache.Load(); !m.youngerThan(ks, RefreshEvery) {
		select {
		case m.reload <- struct{}{}:
			ks, err := m.reloadHeld(ctx, RefreshEvery)
			<-m.reload
			if err == nil {
				return m.publicOf(ks), nil
			}
		default: // being read by another caller
		}
	}
	return m.PublicKeys(ctx)
}

// HasPublicKey reports whether kid is one of the keys PublicKeys returns. A kid missing
// from the copy in memory is looked up in a copy read after the question (readSince): a
// forced rotation on another instance (or by the CLI) signs with its new key at once, and
// the tokens it signs must verify here from the first one, not CacheTTL later. Reads are
// at most every RefreshEvery: a made-up kid costs a read a second, and a wait of up to a
// second for its caller.
func (m *Manager) HasPublicKey(ctx context.Context, kid string) (bool, error) {
	asked := m.opts.Now()
	ks, err := m.snapshot(ctx)
	if err != nil {
		return false, err
	}
	if m.publishes(ks, kid) {
		return true, nil
	}
	if ks, err = m.readSince(ctx, asked); err != nil {
		return false, err
	}
	return m.publishes(ks, kid), nil
}

// readSince returns a copy of the keys whose read began at t or later, so that it holds
// every key committed before t. It reads the keys again for it, but not before RefreshEvery
// after the previous read began: until then the caller waits (bounded by ctx). A key made
// just after this instance's last read (which, with the JWKS read every second, is never
// more than a second ago) must not make its tokens invalid here for the rest of the second.
func (m *Manager) readSince(ctx context.Context, t time.Time) (*keySet, error) {
	if ks := m.cache.Load(); ks != nil && ks.gen == m.gen.Load() {
		if !ks.readAt.Before(t) {
			return ks, nil
		}
		if wait := RefreshEvery - m.opts.Now().Sub(ks.readAt); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, fmt.Errorf("keys: waiting for key reload: %w", ctx.Err())
			}
		}
	}
	if err := m.lockReload(ctx); err != nil {
		return nil, err
	}
	defer func() { <-m.reload }()
	prev := m.cache.Load()
	if prev != nil && prev.gen == m.gen.Load() && !prev.readAt.Before(t) {
		return prev, nil // read by a caller that waited with us
	}
	if d := m.opts.Now().Sub(m.failedAt); m.failed != nil && d >= 0 && d < RefreshEvery {
		return nil, m.failed // failed just now: a made-up kid must not make every request ask again
	}
	return m.loadHeld(ctx, prev)
}

// publishes reports whether kid is in ks's JWKS at this moment.
func (m *Manager) publishes(ks *keySet, kid string) bool {
	now := m.opts.Now()
	for _, p := range ks.published {
		if p.key.id == kid {
			return p.deleteAfter == nil || !now.After(*p.deleteAfter)
		}
	}
	return false
}

// List returns every stored key, sorted by algorithm and creation time, for the CLI.
func (m *Manager) List(ctx context.Context) ([]*storage.SigningKey, error) {
	all, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list signing keys: %w", err)
	}
	slices.SortFunc(all, func(a, b *storage.SigningKey) int {
		return cmp.Or(cmp.Compare(a.Alg, b.Alg), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return all, nil
}

// Ensure makes sure each algorithm has exactly one active key: it promotes a waiting next
// key or creates a key when there is none, and retires extra active keys left by concurrent
// start-ups. It then loads the key set, so a wrong master key fails here, at start-up,
// rather than at the first sign-in. It is idempotent.
func (m *Manager) Ensure(ctx context.Context) error {
	m.admin.Lock()
	defer m.admin.Unlock()
	now := m.opts.Now()
	all, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	for _, alg := range m.Algorithms() {
		if _, err := m.ensureActive(ctx, alg, all, now); err != nil {
			return err
		}
	}
	if err := m.resolve(ctx, m.store, now); err != nil {
		return err
	}
	m.invalidate()
	ks, err := m.snapshot(ctx)
	if err != nil {
		return err
	}
	for _, alg := range m.Algorithms() {
		if ks.active[alg] == nil {
			return fmt.Errorf("%w for %s: the active key cannot be opened with this master key", ErrNoActiveKey, alg)
		}
	}
	return nil
}

// ensureActive gives alg an active key if all has none, preferring to promote the oldest
// next key (already published) over creating one. It reports whether it changed anything.
func (m *Manager) ensureActive(ctx context.Context, alg jose.SignatureAlgorithm, all []*storage.SigningKey, now time.Time) (bool, error) {
	if len(byState(all, alg, storage.KeyActive)) > 0 {
		return false, nil
	}
	if nexts := byState(all, alg, storage.KeyNext); len(nexts) > 0 {
		slices.SortFunc(nexts, oldestFirst)
		promoted, err := m.promote(ctx, nexts[0].ID, now)
		if err != nil {
			return false, err
		}
		if promoted {
			return true, nil
		}
	}
	if _, err := m.create(ctx, alg, storage.KeyActive, now); err != nil {
		return false, err
	}
	return true, nil
}

// Rotate replaces the active key of every algorithm: it creates a new key that signs from
// now on and retires the previous one, which stays published until the tokens it signed
// have expired. Waiting next keys are discarded (they never signed anything, and a rotation
// is often a response to a suspected compromise). It returns the new keys.
func (m *Manager) Rotate(ctx context.Context) ([]*storage.SigningKey, error) {
	return m.RotateWith(ctx, nil)
}

// txStore is a store that runs a function in one transaction (storage.Store.InTx).
type txStore interface {
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// RotateWith is Rotate in one transaction of the store, which also runs then (nil: nothing)
// with the new keys: a caller's audit event commits with the rotation, and a failure of
// either rotates nothing. The new keys are generated before the transaction, so the store's
// writer is not held while an RSA key is made. A store without transactions can only rotate
// without then, one write after another.
func (m *Manager) RotateWith(ctx context.Context, then func(ctx context.Context, tx storage.Store, created []*storage.SigningKey) error) ([]*storage.SigningKey, error) {
	txs, ok := m.store.(txStore)
	if !ok && then != nil {
		return nil, errors.New("keys: a rotation in a transaction needs a store with transactions")
	}
	m.admin.Lock()
	defer m.admin.Unlock()
	defer m.invalidate()
	now := m.opts.Now()
	fresh, err := m.newKeys(now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return m.rotate(ctx, m.store, fresh, now)
	}
	var created []*storage.SigningKey
	err = txs.InTx(ctx, func(tx storage.Store) error {
		var err error
		if created, err = m.rotate(ctx, tx, fresh, now); err != nil {
			return err
		}
		if then != nil {
			return then(ctx, tx, created)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// newKeys makes an active key for every algorithm, not yet stored.
func (m *Manager) newKeys(now time.Time) ([]*storage.SigningKey, error) {
	out := make([]*storage.SigningKey, 0, len(m.Algorithms()))
	for _, alg := range m.Algorithms() {
		k, err := m.newKey(alg, storage.KeyActive, now)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// rotate stores the fresh keys (one per algorithm, newKeys) through st and retires the keys
// they replace.
func (m *Manager) rotate(ctx context.Context, st storage.KeyStore, fresh []*storage.SigningKey, now time.Time) ([]*storage.SigningKey, error) {
	before, err := st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list signing keys: %w", err)
	}
	var created []*storage.SigningKey
	for i, alg := range m.Algorithms() {
		k := fresh[i]
		if err := m.storeKey(ctx, st, k); err != nil {
			return created, err
		}
		created = append(created, k)
		for _, old := range byState(before, alg, storage.KeyActive) {
			if err := m.retireIn(ctx, st, old.ID, storage.KeyActive, now); err != nil {
				return created, err
			}
		}
		for _, next := range byState(before, alg, storage.KeyNext) {
			if err := m.retireIn(ctx, st, next.ID, storage.KeyNext, now); err != nil {
				return created, err
			}
		}
	}
	if err := m.resolve(ctx, st, now); err != nil {
		return created, err
	}
	return created, nil
}

// RotateIfDue performs one step of scheduled rotation for every algorithm; call it
// periodically (say every few minutes, from every instance). When the active key is older
// than period-prepublish and no next key exists, it creates a next key, which is published
// but does not sign. Once a next key has been published for prepublish, it is promoted to
// active and the old active key is retired. prepublish should exceed CacheTTL plus the time
// relying parties cache our JWKS, so nobody sees a token signed by a key they cannot find.
// It reports whether anything changed.
func (m *Manager) RotateIfDue(ctx context.Context, period, prepublish time.Duration) (bool, error) {
	if period <= 0 || prepublish < 0 || prepublish >= period {
		return false, fmt.Errorf("keys: rotation needs 0 <= prepublish (%s) < period (%s)", prepublish, period)
	}
	m.admin.Lock()
	defer m.admin.Unlock()
	now := m.opts.Now()
	all, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("keys: list signing keys: %w", err)
	}
	changed := false
	for _, alg := range m.Algorithms() {
		actives := byState(all, alg, storage.KeyActive)
		if len(actives) == 0 {
			c, err := m.ensureActive(ctx, alg, all, now)
			if err != nil {
				return changed, err
			}
			changed = changed || c
			continue
		}
		slices.SortFunc(actives, newestActiveFirst)

		var next *storage.SigningKey
		if nexts := byState(all, alg, storage.KeyNext); len(nexts) > 0 {
			slices.SortFunc(nexts, oldestFirst)
			next = nexts[0]
		}
		if next == nil && now.Sub(activatedAt(actives[0])) >= period-prepublish {
			if next, err = m.create(ctx, alg, storage.KeyNext, now); err != nil {
				return changed, err
			}
			changed = true
		}
		if next == nil || now.Sub(next.CreatedAt) < prepublish {
			continue
		}
		if _, err := m.promote(ctx, next.ID, now); err != nil {
			return changed, err
		}
		for _, old := range actives {
			if err := m.retire(ctx, old.ID, storage.KeyActive, now); err != nil {
				return changed, err
			}
		}
		changed = true
	}
	if changed {
		if err := m.resolve(ctx, m.store, now); err != nil {
			return changed, err
		}
		m.invalidate()
	}
	return changed, nil
}

// Prune deletes retired keys whose DeleteAfter has passed and returns how many it deleted.
// Only retired keys are ever deleted.
func (m *Manager) Prune(ctx context.Context) (int, error) {
	m.admin.Lock()
	defer m.admin.Unlock()
	now := m.opts.Now()
	all, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: list signing keys: %w", err)
	}
	n := 0
	for _, k := range all {
		if k.State != storage.KeyRetired || k.DeleteAfter == nil || !now.After(*k.DeleteAfter) {
			continue
		}
		err := m.store.DeleteSigningKey(ctx, k.ID)
		if errors.Is(err, storage.ErrNotFound) {
			continue // pruned concurrently by another instance
		}
		if err != nil {
			return n, fmt.Errorf("keys: delete signing key %s: %w", k.ID, err)
		}
		m.log.InfoContext(ctx, "signing key deleted", "kid", k.ID, "alg", k.Alg)
		n++
	}
	if n > 0 {
		m.invalidate()
	}
	return n, nil
}

// create generates, seals and stores a new key for alg in the given state.
func (m *Manager) create(ctx context.Context, alg jose.SignatureAlgorithm, state string, now time.Time) (*storage.SigningKey, error) {
	k, err := m.newKey(alg, state, now)
	if err != nil {
		return nil, err
	}
	if err := m.storeKey(ctx, m.store, k); err != nil {
		return nil, err
	}
	return k, nil
}

// newKey generates and seals a new key for alg in the given state, without storing it.
func (m *Manager) newKey(alg jose.SignatureAlgorithm, state string, now time.Time) (*storage.SigningKey, error) {
	kid := secret.NewID()
	priv, err := generate(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal %s key: %w", alg, err)
	}
	sealed, err := m.sealer.Seal(kid, der)
	clear(der)
	if err != nil {
		return nil, err
	}
	pubJSON, err := publicJWK(kid, alg, priv).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: marshal %s public key: %w", alg, err)
	}
	k := &storage.SigningKey{
		ID:        kid,
		Alg:       string(alg),
		Sealed:    sealed,
		PublicJWK: pubJSON,
		State:     state,
		CreatedAt: now,
	}
	if state == storage.KeyActive {
		k.ActivatedAt = &now
	}
	return k, nil
}

// storeKey stores a key newKey made, through st (the store or a transaction's).
func (m *Manager) storeKey(ctx context.Context, st storage.KeyStore, k *storage.SigningKey) error {
	if err := st.CreateSigningKey(ctx, k); err != nil {
		return fmt.Errorf("keys: store %s key: %w", k.Alg, err)
	}
	m.log.InfoContext(ctx, "signing key created", "kid", k.ID, "alg", k.Alg, "state", k.State)
	return nil
}

// promote turns a next key into the active key, inside the store's transaction and only if
// it is still next. It reports false when another instance changed it first.
func (m *Manager) promote(ctx context.Context, id string, now time.Time) (bool, error) {
	err := m.store.UpdateSigningKey(ctx, id, func(k *storage.SigningKey) error {
		if k.State != storage.KeyNext {
			return errNoChange
		}
		k.State = storage.KeyActive
		k.ActivatedAt = &now
		return nil
	})
	switch {
	case errors.Is(err, errNoChange), errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("keys: promote signing key %s: %w", id, err)
	}
	m.log.InfoContext(ctx, "signing key activated", "kid", id)
	return true, nil
}

// retire moves a key out of state from (active or next) inside the store's transaction,
// doing nothing if another instance already changed it. An active key stays published until
// every token it may have signed has expired, even on instances whose cache still has it as
// active; a next key never signed anything and is dropped from the JWKS right away.
func (m *Manager) retire(ctx context.Context, id, from string, now time.Time) error {
	return m.retireIn(ctx, m.store, id, from, now)
}

// retireIn is retire through st (the store or a transaction's).
func (m *Manager) retireIn(ctx context.Context, st storage.KeyStore, id, from string, now time.Time) error {
	deleteAfter := now
	if from == storage.KeyActive {
		deleteAfter = now.Add(m.opts.TokenLifetime + m.opts.CacheTTL + RetireMargin)
	}
	err := st.UpdateSigningKey(ctx, id, func(k *storage.SigningKey) error {
		if k.State != from {
			return errNoChange
		}
		k.State = storage.KeyRetired
		k.RetiredAt = &now
		k.DeleteAfter = &deleteAfter
		return nil
	})
	switch {
	case errors.Is(err, errNoChange), errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("keys: retire signing key %s: %w", id, err)
	}
	m.log.InfoContext(ctx, "signing key retired", "kid", id, "was", from, "delete_after", deleteAfter)
	return nil
}

// resolve repairs what concurrent rotations on several instances can leave behind: for each
// algorithm it keeps the newest active key and retires the others, and keeps the oldest next
// key and discards the others. The order is total (ties broken by id), so instances that run
// it at the same time agree on the survivor.
func (m *Manager) resolve(ctx context.Context, st storage.KeyStore, now time.Time) error {
	all, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	for _, alg := range m.Algorithms() {
		actives := byState(all, alg, storage.KeyActive)
		slices.SortFunc(actives, newestActiveFirst)
		for _, k := range actives[min(1, len(actives)):] {
			m.log.WarnContext(ctx, "more than one active signing key; retiring the older", "kid", k.ID, "alg", string(alg))
			if err := m.retireIn(ctx, st, k.ID, storage.KeyActive, now); err != nil {
				return err
			}
		}
		nexts := byState(all, alg, storage.KeyNext)
		slices.SortFunc(nexts, oldestFirst)
		for _, k := range nexts[min(1, len(nexts)):] {
			if err := m.retireIn(ctx, st, k.ID, storage.KeyNext, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// keySet is an immutable snapshot of the usable keys.
type keySet struct {
	gen      uint64
	readAt   time.Time // when the read of the store began: every key committed before is in it
	loadedAt time.Time
	byID     map[string]*Key // every key that opened, for reuse by the next load
	// unusable holds the keys that did not open (kid → alg), so the next load neither
	// tries them again nor logs them again: once per key and process is enough to act on.
	unusable  map[string]string
	active    map[jose.SignatureAlgorithm]*Key
	published []publishedKey // active first, then next, then retired; newest first within
}

// publishedKey is a key in the JWKS with the time it must disappear.
type publishedKey struct {
	key         *Key
	deleteAfter *time.Time
}

// invalidate makes the current snapshot stale so the next read reloads from the store.
func (m *Manager) invalidate() { m.gen.Add(1) }

// fresh reports whether a snapshot may still be served at now.
func (m *Manager) fresh(ks *keySet, now time.Time) bool {
	if ks == nil || ks.gen != m.gen.Load() {
		return false
	}
	age := now.Sub(ks.loadedAt)
	return age >= 0 && age < m.opts.CacheTTL
}

// lockReload takes the reload slot (one reader of the store at a time), or fails when ctx
// ends first; the caller gives it back with <-m.reload.
func (m *Manager) lockReload(ctx context.Context) error {
	select {
	case m.reload <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("keys: waiting for key reload: %w", ctx.Err())
	}
}

// snapshot returns a fresh key set, reloading it from the store when needed. Only one
// caller reloads at a time; the others wait for it (or for their ctx) and then use its
// result.
func (m *Manager) snapshot(ctx context.Context) (*keySet, error) {
	if ks := m.cache.Load(); m.fresh(ks, m.opts.Now()) {
		return ks, nil
	}
	ended := m.reads.Load()
	if err := m.lockReload(ctx); err != nil {
		return nil, err
	}
	defer func() { <-m.reload }()
	prev := m.cache.Load()
	if m.fresh(prev, m.opts.Now()) {
		return prev, nil // reloaded by the caller we waited for
	}
	if m.failed != nil && m.failedRead > ended {
		return nil, m.failed // the read we waited for failed: a slow store is not asked once per waiter
	}
	return m.loadHeld(ctx, prev)
}

// loadHeld reads the keys for a caller that holds m.reload, and stores them or the failure.
func (m *Manager) loadHeld(ctx context.Context, prev *keySet) (*keySet, error) {
	ks, err := m.load(ctx, prev)
	n := m.reads.Add(1)
	if err != nil {
		if ctx.Err() == nil { // not this caller's own end, which says nothing of the store
			m.failed, m.failedAt, m.failedRead = err, m.opts.Now(), n
		}
		return nil, err
	}
	m.failed = nil
	m.cache.Store(ks)
	return ks, nil
}

// youngerThan reports whether ks is current and was read less than age ago.
func (m *Manager) youngerThan(ks *keySet, age time.Duration) bool {
	if ks == nil || ks.gen != m.gen.Load() {
		return false
	}
	d := m.opts.Now().Sub(ks.loadedAt)
	return d >= 0 && d < age
}

// reloadHeld reads the keys again, for a caller that holds m.reload, unless they were read
// (by anyone) less than age ago or failed to be read that recently (PublishedKeys).
func (m *Manager) reloadHeld(ctx context.Context, age time.Duration) (*keySet, error) {
	prev := m.cache.Load()
	if m.youngerThan(prev, age) {
		return prev, nil // read just now, perhaps by the caller we waited for
	}
	if d := m.opts.Now().Sub(m.failedAt); m.failed != nil && d >= 0 && d < age {
		return nil, m.failed // failed just now: one JWKS request a second asks a failing store
	}
	return m.loadHeld(ctx, prev)
}

// load reads every key from the store and unseals the publishable ones, reusing keys
// already unsealed in prev (parsing an RSA key is comparatively slow). Keys that fail to
// open or parse are logged and left out rather than failing the whole set.
func (m *Manager) load(ctx context.Context, prev *keySet) (*keySet, error) {
	gen := m.gen.Load() // before reading: a change made during the read leaves this stale
	readAt := m.opts.Now()
	all, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: load signing keys: %w", err)
	}
	now := m.opts.Now()
	ks := &keySet{
		gen:      gen,
		readAt:   readAt,
		loadedAt: now,
		byID:     make(map[string]*Key, len(all)),
		active:   make(map[jose.SignatureAlgorithm]*Key),
		unusable: map[string]string{},
	}
	var rows []*storage.SigningKey
	for _, row := range all {
		switch row.State {
		case storage.KeyActive, storage.KeyNext, storage.KeyRetired:
		default:
			m.log.WarnContext(ctx, "signing key in unknown state ignored", "kid", row.ID, "state", row.State)
			continue
		}
		if row.DeleteAfter != nil && now.After(*row.DeleteAfter) {
			continue
		}
		var k *Key
		if prev != nil {
			k = prev.byID[row.ID]
			if alg, ok := prev.unusable[row.ID]; ok && alg == row.Alg {
				ks.unusable[row.ID] = alg
				continue
			}
		}
		if k == nil || string(k.alg) != row.Alg {
			if k, err = m.open(row); err != nil {
				m.log.ErrorContext(ctx, "signing key unusable", "kid", row.ID, "alg", row.Alg, "state", row.State, "error", err)
				ks.unusable[row.ID] = row.Alg
				continue
			}
		}
		ks.byID[row.ID] = k
		rows = append(rows, row)
	}

	slices.SortFunc(rows, func(a, b *storage.SigningKey) int {
		if c := stateRank(a.State) - stateRank(b.State); c != 0 {
			return c
		}
		return newestActiveFirst(a, b)
	})
	for _, row := range rows {
		k := ks.byID[row.ID]
		ks.published = append(ks.published, publishedKey{key: k, deleteAfter: row.DeleteAfter})
		if row.State == storage.KeyActive && ks.active[k.alg] == nil {
			ks.active[k.alg] = k // rows are sorted newest active first
		}
	}
	return ks, nil
}

// open unseals and parses a stored key, checks it is the kind of key its algorithm needs,
// and checks it matches the stored public JWK (a mismatch means corruption or tampering).
func (m *Manager) open(row *storage.SigningKey) (*Key, error) {
	if row.Alg == "" {
		return nil, fmt.Errorf("%w: empty", ErrUnsupportedAlgorithm)
	}
	alg, err := parseAlg(row.Alg)
	if err != nil {
		return nil, err
	}
	der, err := m.sealer.Open(row.ID, row.Sealed)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse private key %s: %w", row.ID, err)
	}
	var priv crypto.Signer
	switch p := parsed.(type) {
	case *rsa.PrivateKey:
		if alg == jose.RS256 && p.N.BitLen() >= rsaBits {
			priv = p
		}
	case *ecdsa.PrivateKey:
		if alg == jose.ES256 && p.Curve == elliptic.P256() {
			priv = p
		}
	case ed25519.PrivateKey:
		if alg == jose.EdDSA {
			priv = p
		}
	}
	if priv == nil {
		return nil, fmt.Errorf("keys: private key %s (%T) is not a valid %s key", row.ID, parsed, alg)
	}
	pub := publicJWK(row.ID, alg, priv)
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(row.PublicJWK); err != nil {
		return nil, fmt.Errorf("keys: stored public JWK of %s: %w", row.ID, err)
	}
	if !samePublicKey(stored.Key, priv.Public()) || stored.KeyID != row.ID {
		return nil, fmt.Errorf("keys: stored public JWK of %s does not match its private key", row.ID)
	}
	k := &Key{id: row.ID, alg: alg, priv: priv, pub: pub}
	if p, ok := priv.(*rsa.PrivateKey); ok {
		k.rsa, k.accel = m.rsa, m.rsa.accelFor(row.ID, p)
	}
	return k, nil
}

// samePublicKey compares two public keys of the kinds we use.
func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// generate creates a fresh private key for alg.
func generate(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.RS256:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("keys: generate RSA key: %w", err)
		}
		return k, nil
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate P-256 key: %w", err)
		}
		return k, nil
	case jose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate Ed25519 key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedAlgorithm, alg)
}

// publicJWK builds the published form of a key: public part only, with kid, alg and use.
func publicJWK(kid string, alg jose.SignatureAlgorithm, priv crypto.Signer) jose.JSONWebKey {
	return jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

// parseAlg maps an algorithm name to one we support; "" is RS256, the OIDC default.
func parseAlg(alg string) (jose.SignatureAlgorithm, error) {
	switch {
	case alg == "":
		return jose.RS256, nil
	case Supported(alg):
		return jose.SignatureAlgorithm(alg), nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
}

// byState returns the keys of one algorithm in one state.
func byState(all []*storage.SigningKey, alg jose.SignatureAlgorithm, state string) []*storage.SigningKey {
	var out []*storage.SigningKey
	for _, k := range all {
		if k.Alg == string(alg) && k.State == state {
			out = append(out, k)
		}
	}
	return out
}

// activatedAt is when a key started signing (its creation time if never recorded).
func activatedAt(k *storage.SigningKey) time.Time {
	if k.ActivatedAt != nil {
		return *k.ActivatedAt
	}
	return k.CreatedAt
}

// newestActiveFirst orders keys by activation, then creation, newest first, then by id
// descending: a total order, so every instance picks the same survivor.
func newestActiveFirst(a, b *storage.SigningKey) int {
	if c := activatedAt(b).Compare(activatedAt(a)); c != 0 {
		return c
	}
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// oldestFirst orders keys by creation, oldest first, then by id: a total order.
func oldestFirst(a, b *storage.SigningKey) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// stateRank orders published keys: active first (some clients take the first key), then
// next, then retired.
func stateRank(state string) int {
	switch state {
	case storage.KeyActive:
		return 0
	case storage.KeyNext:
		return 1
	}
	return 2
}
