package keys

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
)

const (
	testTokenLifetime = 2 * time.Hour
	testCacheTTL      = 30 * time.Second
)

type fixture struct {
	store *fakeStore
	clock *fakeClock
	m     *Manager
	mkey  []byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{store: newFakeStore(), clock: newFakeClock(), mkey: testMasterKey(t)}
	f.m = f.manager(t, f.mkey)
	return f
}

// manager returns another Manager (another "instance") over the same store and clock.
func (f *fixture) manager(t testing.TB, masterKey []byte) *Manager {
	t.Helper()
	m, err := NewManager(f.store, masterKey, Options{
		TokenLifetime: testTokenLifetime,
		CacheTTL:      testCacheTTL,
		Now:           f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustEnsure(t testing.TB, m *Manager) {
	t.Helper()
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func mustSigner(t testing.TB, m *Manager, alg string) *Key {
	t.Helper()
	k, err := m.Signer(context.Background(), alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign makes a compact JWS with the key's kid in the header.
func sign(t testing.TB, k *Key, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: k.Private()},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), k.ID()))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyWithJWKS verifies a compact JWS the way a relying party does: find the key by kid in
// the published set (after a JSON round trip) and check the signature.
func verifyWithJWKS(t *testing.T, m *Manager, token string) error {
	t.Helper()
	pub, err := m.PublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: pub})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, m.Algorithms())
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		return errors.New("kid " + kid + " not in JWKS")
	}
	if found[0].Algorithm != jws.Signatures[0].Header.Algorithm || found[0].Use != "sig" {
		return errors.New("JWK alg/use mismatch")
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		return err
	}
	if string(payload) != "payload" {
		return errors.New("payload mismatch")
	}
	return nil
}

func kids(keys []jose.JSONWebKey) map[string]bool {
	out := make(map[string]bool)
	for _, k := range keys {
		out[k.KeyID] = true
	}
	return out
}

func TestNewManagerValidates(t *testing.T) {
	s := newFakeStore()
	if _, err := NewManager(s, make([]byte, 16), Options{}); !errors.Is(err, ErrInvalidMasterKey) {
		t.Errorf("short master key: %v", err)
	}
	if _, err := NewManager(nil, testMasterKey(t), Options{}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := NewManager(s, testMasterKey(t), Options{CacheTTL: -1}); err == nil {
		t.Error("negative CacheTTL accepted")
	}
	m, err := NewManager(s, testMasterKey(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.opts.CacheTTL != DefaultCacheTTL || m.opts.TokenLifetime != DefaultTokenLifetime || m.opts.Now == nil || m.opts.Logger == nil {
		t.Errorf("defaults not applied: %+v", m.opts)
	}
	if got := m.Algorithms(); len(got) != 3 || got[0] != jose.RS256 || got[1] != jose.ES256 || got[2] != jose.EdDSA {
		t.Errorf("Algorithms() = %v", got)
	}
}

func TestEnsureIdempotent(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	mustEnsure(t, f.m)
	mustEnsure(t, f.manager(t, f.mkey)) // another instance starting later
	all, err := f.m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(Algorithms()) {
		t.Fatalf("%d keys after three Ensure calls, want one per algorithm", len(all))
	}
	for _, k := range all {
		if k.State != storage.KeyActive || k.ActivatedAt == nil || !k.CreatedAt.Equal(f.clock.Now()) {
			t.Errorf("key %s: state %s, activated %v", k.ID, k.State, k.ActivatedAt)
		}
		var jwk map[string]any
		if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
			t.Fatal(err)
		}
		if jwk["kid"] != k.ID || jwk["alg"] != k.Alg || jwk["use"] != "sig" {
			t.Errorf("PublicJWK %s lacks kid/alg/use", k.PublicJWK)
		}
		if _, ok := jwk["d"]; ok {
			t.Errorf("PublicJWK contains private material: %s", k.PublicJWK)
		}
	}
	if all[0].Alg != "ES256" || all[1].Alg != "EdDSA" || all[2].Alg != "RS256" {
		t.Errorf("List not sorted by alg: %s, %s, %s", all[0].Alg, all[1].Alg, all[2].Alg)
	}
}

func TestSignerSignsVerifiableJWS(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	for _, alg := range AlgorithmNames() {
		t.Run(alg, func(t *testing.T) {
			k := mustSigner(t, f.m, alg)
			if string(k.Alg()) != alg || k.ID() == "" {
				t.Fatalf("Signer(%s) = %s/%s", alg, k.ID(), k.Alg())
			}
			if pub := k.Public(); pub.KeyID != k.ID() || pub.Algorithm != alg || pub.Use != "sig" || !pub.IsPublic() {
				t.Fatalf("Public() = %+v", pub)
			}
			if err := verifyWithJWKS(t, f.m, sign(t, k, "payload")); err != nil {
				t.Fatal(err)
			}
			// Also verifiable with the JWK stored in the database.
			var stored jose.JSONWebKey
			if err := stored.UnmarshalJSON(f.store.get(k.ID()).PublicJWK); err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSigned(sign(t, k, "payload"), []jose.SignatureAlgorithm{k.Alg()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(stored); err != nil {
				t.Fatal(err)
			}
		})
	}
	if k := mustSigner(t, f.m, ""); k.Alg() != jose.RS256 {
		t.Errorf(`Signer("") = %s, want RS256`, k.Alg())
	}
	for _, alg := range []string{"HS256", "none", "rs256", "PS256", "eddsa", "Ed25519", "ES384"} {
		if _, err := f.m.Signer(context.Background(), alg); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("Signer(%q) = %v, want ErrUnsupportedAlgorithm", alg, err)
		}
	}
}

func TestSignerWithoutEnsure(t *testing.T) {
	f := newFixture(t)
	if _, err := f.m.Signer(context.Background(), "RS256"); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("Signer before Ensure: %v, want ErrNoActiveKey", err)
	}
}

func TestPublicKeysArePublic(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	pub, err := f.m.PublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != len(Algorithms()) {
		t.Fatalf("%d public keys, want one per algorithm", len(pub))
	}
	for _, k := range pub {
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("published key %s is not a valid public key", k.KeyID)
		}
	}
}

func TestRotate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustEnsure(t, f.m)
	old := map[string]*Key{}
	for _, alg := range AlgorithmNames() {
		old[alg] = mustSigner(t, f.m, alg)
	}
	oldTokens := map[string]string{}
	for alg, k := range old {
		oldTokens[alg] = sign(t, k, "payload")
	}

	f.clock.Advance(time.Minute)
	rotatedAt := f.clock.Now()
	created, err := f.m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != len(Algorithms()) {
		t.Fatalf("Rotate created %d keys, want one per algorithm", len(created))
	}
	for _, alg := range AlgorithmNames() {
		k := mustSigner(t, f.m, alg) // no clock advance: the rotation invalidated the cache
		if k.ID() == old[alg].ID() {
			t.Fatalf("%s: Signer still returns the old key after Rotate", alg)
		}
		if err := verifyWithJWKS(t, f.m, sign(t, k, "payload")); err != nil {
			t.Fatalf("%s: new key: %v", alg, err)
		}
		if err := verifyWithJWKS(t, f.m, oldTokens[alg]); err != nil {
			t.Fatalf("%s: token signed before rotation no longer verifies: %v", alg, err)
		}
		o := f.store.get(old[alg].ID())
		wantDelete := rotatedAt.Add(testTokenLifetime + testCacheTTL + RetireMargin)
		if o.State != storage.KeyRetired || o.RetiredAt == nil || !o.RetiredAt.Equal(rotatedAt) || o.DeleteAfter == nil || !o.DeleteAfter.Equal(wantDelete) {
			t.Fatalf("%s: old key %+v; want retired at %v, delete after %v", alg, o, rotatedAt, wantDelete)
		}
		if n := len(f.store.inState(alg, storage.KeyActive)); n != 1 {
			t.Fatalf("%s: %d active keys", alg, n)
		}
	}
	pub, err := f.m.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != 2*len(Algorithms()) {
		t.Fatalf("%d published keys after rotation, want two per algorithm", len(pub))
	}
	if pub[0].KeyID != mustSigner(t, f.m, string(pub[0].Algorithm)).ID() {
		t.Error("JWKS does not list an active key first")
	}
}

func TestRotateDiscardsNextKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustEnsure(t, f.m)
	next, err := f.m.create(ctx, jose.RS256, storage.KeyNext, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	n := f.store.get(next.ID)
	if n.State != storage.KeyRetired || n.DeleteAfter == nil || n.DeleteAfter.After(f.clock.Now()) {
		t.Fatalf("next key after Rotate: %+v; want retired, deletable now", n)
	}
	f.clock.Advance(time.Second)
	pub, err := f.m.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kids(pub)[next.ID] {
		t.Fatal("discarded next key is still published")
	}
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustEnsure(t, f.m)
	oldRS := mustSigner(t, f.m, "RS256").ID()
	if _, err := f.m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// A corrupt active row with a past DeleteAfter must never be deleted.
	active := f.store.inState("ES256", storage.KeyActive)[0]
	past := f.clock.Now().Add(-time.Hour)
	f.store.mutate(active.ID, func(k *storage.SigningKey) { k.DeleteAfter = &past })

	retention := testTokenLifetime + testCacheTTL + RetireMargin
	f.clock.Advance(retention)
	if n, err := f.m.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("Prune at DeleteAfter = %d, %v; want 0", n, err)
	}
	if pub, _ := f.m.PublicKeys(ctx); !kids(pub)[oldRS] {
		t.Fatal("retired key unpublished before DeleteAfter passed")
	}
	f.clock.Advance(time.Nanosecond)
	if pub, _ := f.m.PublicKeys(ctx); kids(pub)[oldRS] {
		t.Fatal("retired key still published after DeleteAfter")
	}
	n, err := f.m.Prune(ctx)
	if err != nil || n != len(Algorithms()) {
		t.Fatalf("Prune = %d, %v; want one per algorithm", n, err)
	}
	if f.store.get(oldRS) != nil {
		t.Fatal("expired key not deleted")
	}
	if f.store.get(active.ID) == nil {
		t.Fatal("an active key was deleted")
	}
	if n, err := f.m.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("second Prune = %d, %v; want 0", n, err)
	}
	mustSigner(t, f.m, "RS256")
	// The corrupt ES256 row is unpublished, so it must not sign either.
	if _, err := f.m.Signer(ctx, "ES256"); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("Signer with an unpublished active key = %v, want ErrNoActiveKey", err)
	}
}

func TestSignerCache(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	base := f.store.count("List")
	for range 100 {
		mustSigner(t, f.m, "RS256")
		mustSigner(t, f.m, "ES256")
		if _, err := f.m.PublicKeys(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.count("List") - base; n != 0 {
		t.Fatalf("fresh cache: %d store reads, want 0", n)
	}
	f.clock.Advance(testCacheTTL - time.Nanosecond)
	mustSigner(t, f.m, "RS256")
	if n := f.store.count("List") - base; n != 0 {
		t.Fatalf("cache just under CacheTTL: %d store reads, want 0", n)
	}
	f.clock.Advance(time.Nanosecond)
	mustSigner(t, f.m, "RS256")
	mustSigner(t, f.m, "ES256")
	if n := f.store.count("List") - base; n != 1 {
		t.Fatalf("cache at CacheTTL: %d store reads, want 1", n)
	}
	// A clock that jumps backwards must not freeze the cache.
	f.clock.Advance(-time.Hour)
	mustSigner(t, f.m, "RS256")
	if n := f.store.count("List") - base; n != 2 {
		t.Fatalf("after clock went backwards: %d store reads, want 2", n)
	}
}

func TestSignerConcurrentReloadReadsOnce(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	f.clock.Advance(testCacheTTL)
	base := f.store.count("List")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := f.m.Signer(context.Background(), "ES256"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.store.count("List") - base; n != 1 {
		t.Fatalf("50 concurrent callers on an expired cache made %d store reads, want 1", n)
	}
}

func TestSignerHonoursContextWhileWaiting(t *testing.T) {
	f := newFixture(t)
	f.m.reload <- struct{}{} // someone else is reloading
	defer func() { <-f.m.reload }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.m.Signer(ctx, "RS256"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Signer with cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestOtherInstanceRotationSeenAfterCacheTTL(t *testing.T) {
	f := newFixture(t)
	a, b := f.m, f.manager(t, f.mkey)
	mustEnsure(t, a)
	mustEnsure(t, b)
	before := mustSigner(t, b, "RS256").ID()
	if _, err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := mustSigner(t, b, "RS256").ID(); got != before {
		t.Fatal("instance B reloaded before its cache expired")
	}
	f.clock.Advance(testCacheTTL)
	after := mustSigner(t, b, "RS256").ID()
	if after == before || after != mustSigner(t, a, "RS256").ID() {
		t.Fatal("instance B does not see A's rotation after CacheTTL")
	}
}

// A kid B's copy lacks has B read the keys again, at most every RefreshEvery: A's new key is
// known to B from its first token, a made-up kid costs a read a second, and B's copy does
// not otherwise expire before CacheTTL.
func TestHasPublicKeyRereadsForAnUnknownKid(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, b := f.m, f.manager(t, f.mkey)
	mustEnsure(t, a)
	mustEnsure(t, b)
	old := mustSigner(t, b, "ES256").ID()
	if ok, err := b.HasPublicKey(ctx, old); err != nil || !ok {
		t.Fatalf("HasPublicKey(the active key) = %v, %v", ok, err)
	}
	f.clock.Advance(RefreshEvery)
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := mustSigner(t, a, "ES256").ID()
	base := f.store.count("List")
	if ok, err := b.HasPublicKey(ctx, fresh); err != nil || !ok {
		t.Fatalf("B does not know the key A just made: %v, %v", ok, err)
	}
	if ok, _ := b.HasPublicKey(ctx, old); !ok {
		t.Fatal("the retired key is no longer published")
	}
	for range 10 {
		if ok, _ := b.HasPublicKey(ctx, "made-up"); ok {
			t.Fatal("a made-up kid is published")
		}
	}
	if n := f.store.count("List") - base; n != 1 {
		t.Fatalf("%d store reads for a new kid and ten made-up ones within RefreshEvery, want 1", n)
	}
	f.clock.Advance(RefreshEvery)
	b.HasPublicKey(ctx, "made-up")
	if n := f.store.count("List") - base; n != 2 {
		t.Fatalf("%d store reads after RefreshEvery, want 2", n)
	}
}

// The JWKS is read from a copy at most RefreshEvery old; a failing or busy read serves the
// copy instead of an error or a wait.
func TestPublishedKeysAtMostASecondOld(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, b := f.m, f.manager(t, f.mkey)
	mustEnsure(t, a)
	mustEnsure(t, b)
	kids := func() []string {
		t.Helper()
		pub, err := b.PublishedKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range pub {
			out = append(out, k.KeyID)
		}
		return out
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := mustSigner(t, a, "ES256").ID()
	base := f.store.count("List")
	if slices.Contains(kids(), fresh) {
		t.Fatal("B read the keys again within RefreshEvery of its last read")
	}
	f.clock.Advance(RefreshEvery)
	for range 5 {
		if !slices.Contains(kids(), fresh) {
			t.Fatal("B does not publish A's new key RefreshEvery after its last read")
		}
	}
	if n := f.store.count("List") - base; n != 1 {
		t.Fatalf("%d store reads, want 1", n)
	}

	// A failing read, then a busy one: the copy, no error, no wait.
	f.clock.Advance(RefreshEvery)
	f.store.mu.Lock()
	f.store.listErr = errors.New("database down")
	f.store.mu.Unlock()
	if !slices.Contains(kids(), fresh) {
		t.Fatal("a failed read lost the copy")
	}
	b.reload <- struct{}{}
	if !slices.Contains(kids(), fresh) {
		t.Fatal("a read under way elsewhere lost the copy")
	}
	<-b.reload
}

func TestConcurrentRotationsLeaveOneActiveKey(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	instances := []*Manager{f.m, f.manager(t, f.mkey), f.manager(t, f.mkey), f.manager(t, f.mkey)}
	var wg sync.WaitGroup
	for _, m := range instances {
		wg.Go(func() {
			for range 3 {
				if _, err := m.Rotate(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() { // signing goes on during rotations
			for range 20 {
				if _, err := m.Signer(context.Background(), "ES256"); err != nil {
					t.Error(err)
				}
				f.clock.Advance(time.Second)
			}
		})
	}
	wg.Wait()
	for _, alg := range AlgorithmNames() {
		if n := len(f.store.inState(alg, storage.KeyActive)); n != 1 {
			t.Errorf("%s: %d active keys after concurrent rotations, want 1", alg, n)
		}
	}
	f.clock.Advance(testCacheTTL)
	for _, alg := range AlgorithmNames() {
		want := f.store.inState(alg, storage.KeyActive)[0].ID
		for i, m := range instances {
			if got := mustSigner(t, m, alg).ID(); got != want {
				t.Errorf("instance %d signs %s with %s, want %s", i, alg, got, want)
			}
		}
	}
}

func TestEnsureResolvesDuplicateActiveKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.m.create(ctx, jose.RS256, storage.KeyActive, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	second, err := f.m.create(ctx, jose.RS256, storage.KeyActive, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, f.m)
	if got := f.store.get(first.ID).State; got != storage.KeyRetired {
		t.Errorf("older duplicate is %s, want retired", got)
	}
	if got := mustSigner(t, f.m, "RS256").ID(); got != second.ID {
		t.Errorf("signing with %s, want the newest %s", got, second.ID)
	}
	if n := len(f.store.inState("RS256", storage.KeyActive)); n != 1 {
		t.Errorf("%d active RS256 keys, want 1", n)
	}
}

func TestEnsurePromotesNextKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	next, err := f.m.create(ctx, jose.ES256, storage.KeyNext, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, f.m)
	if got := mustSigner(t, f.m, "ES256").ID(); got != next.ID {
		t.Fatalf("Ensure created %s instead of promoting next key %s", got, next.ID)
	}
	if n := len(f.store.inState("ES256", storage.KeyActive)) + len(f.store.inState("ES256", storage.KeyNext)); n != 1 {
		t.Fatalf("%d ES256 keys, want 1", n)
	}
}

func TestEnsureWrongMasterKey(t *testing.T) {
	f := newFixture(t)
	mustEnsure(t, f.m)
	other := f.manager(t, testMasterKey(t))
	if err := other.Ensure(context.Background()); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("Ensure with the wrong master key = %v, want ErrNoActiveKey", err)
	}
	if pub, err := other.PublicKeys(context.Background()); err != nil || len(pub) != 0 {
		t.Fatalf("wrong master key publishes %d keys (%v), want none", len(pub), err)
	}
}

func TestTamperedRowsAreNotUsed(t *testing.T) {
	ctx := context.Background()
	t.Run("foreign public JWK", func(t *testing.T) {
		f := newFixture(t)
		mustEnsure(t, f.m)
		k := f.store.inState("RS256", storage.KeyActive)[0]
		// Someone with database write access, but without the master key, swaps in a key of
		// their own: it must not be published, and we must not sign with a key whose
		// published form is not ours.
		attacker, err := f.manager(t, testMasterKey(t)).create(ctx, jose.RS256, storage.KeyNext, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(attacker.PublicJWK); err != nil {
			t.Fatal(err)
		}
		jwk.KeyID = k.ID
		forged, err := jwk.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		f.store.mutate(k.ID, func(row *storage.SigningKey) { row.PublicJWK = forged })
		f.store.mutate(attacker.ID, func(row *storage.SigningKey) { row.State = storage.KeyRetired })
		m := f.manager(t, f.mkey)
		if _, err := m.Signer(ctx, "RS256"); !errors.Is(err, ErrNoActiveKey) {
			t.Fatalf("Signer with forged JWK = %v, want ErrNoActiveKey", err)
		}
		pub, err := m.PublicKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pub {
			if p.Algorithm == "RS256" {
				t.Fatalf("published RS256 key %s from a tampered or foreign row", p.KeyID)
			}
		}
	})
	t.Run("sealed key moved to another kid", func(t *testing.T) {
		f := newFixture(t)
		mustEnsure(t, f.m)
		if _, err := f.m.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		old := f.store.inState("ES256", storage.KeyRetired)[0]
		cur := f.store.inState("ES256", storage.KeyActive)[0]
		f.store.mutate(cur.ID, func(row *storage.SigningKey) { row.Sealed, row.PublicJWK = old.Sealed, old.PublicJWK })
		if _, err := f.manager(t, f.mkey).Signer(ctx, "ES256"); !errors.Is(err, ErrNoActiveKey) {
			t.Fatalf("Signer with a swapped sealed key = %v, want ErrNoActiveKey", err)
		}
	})
}

// TestUnusableKeyLoggedOnce: a key that does not open (sealed under another master key, or
// of an algorithm a newer release added) is left out and logged at ERROR once, not at every
// reload of every instance (each cache_ttl), which buried the line it is.
func TestUnusableKeyLoggedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mustEnsure(t, f.m)
	cur := f.store.inState("ES256", storage.KeyActive)[0]
	f.store.mutate(cur.ID, func(row *storage.SigningKey) { row.Sealed = append([]byte(nil), row.Sealed[:len(row.Sealed)-1]...) })
	var logs syncbuf.Buffer
	m, err := NewManager(f.store, f.mkey, Options{TokenLifetime: testTokenLifetime, CacheTTL: testCacheTTL, Now: f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := m.Signer(ctx, "ES256"); !errors.Is(err, ErrNoActiveKey) {
			t.Fatalf("Signer with an unusable active key = %v, want ErrNoActiveKey", err)
		}
		f.clock.Advance(testCacheTTL + time.Second) // the next call reloads
	}
	if n := strings.Count(logs.String(), "signing key unusable"); n != 1 {
		t.Fatalf("the unusable key was logged %d times over three reloads, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "kid="+cur.ID) {
		t.Fatalf("the log does not name the key:\n%s", logs.String())
	}
}

func TestRotateIfDue(t *testing.T) {
	const (
		day        = 24 * time.Hour
		period     = 90 * day
		prepublish = 7 * day
	)
	f := newFixture(t)
	ctx := context.Background()
	mustEnsure(t, f.m)
	first := mustSigner(t, f.m, "RS256").ID()
	step := func(advance time.Duration, wantChanged bool) {
		t.Helper()
		f.clock.Advance(advance)
		changed, err := f.m.RotateIfDue(ctx, period, prepublish)
		if err != nil {
			t.Fatal(err)
		}
		if changed != wantChanged {
			t.Fatalf("at +%s: changed = %v, want %v", advance, changed, wantChanged)
		}
	}

	step(day, false)
	step(period-prepublish-day-time.Second, false) // just before the next key is due
	step(time.Second, true)                        // next keys created
	for _, alg := range AlgorithmNames() {
		if n := len(f.store.inState(alg, storage.KeyNext)); n != 1 {
			t.Fatalf("%s: %d next keys, want 1", alg, n)
		}
	}
	next := f.store.inState("RS256", storage.KeyNext)[0].ID
	if got := mustSigner(t, f.m, "RS256").ID(); got != first {
		t.Fatal("a next key is signing before its promotion")
	}
	pub, err := f.m.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !kids(pub)[next] || len(pub) != 2*len(Algorithms()) {
		t.Fatalf("next key not pre-published (%d keys)", len(pub))
	}

	step(prepublish-time.Second, false) // still pre-publishing: nothing to do
	step(time.Second, true)             // promoted
	if got := mustSigner(t, f.m, "RS256").ID(); got != next {
		t.Fatalf("signing with %s after promotion, want %s", got, next)
	}
	old := f.store.get(first)
	if old.State != storage.KeyRetired || old.DeleteAfter == nil || !old.DeleteAfter.Equal(f.clock.Now().Add(testTokenLifetime+testCacheTTL+RetireMargin)) {
		t.Fatalf("old key after promotion: %+v", old)
	}
	for _, alg := range AlgorithmNames() {
		if a, n := len(f.store.inState(alg, storage.KeyActive)), len(f.store.inState(alg, storage.KeyNext)); a != 1 || n != 0 {
			t.Fatalf("%s: %d active, %d next after promotion", alg, a, n)
		}
	}
	step(day, false)

	// Another instance running the same schedule at the same time agrees.
	other := f.manager(t, f.mkey)
	f.clock.Advance(period - prepublish)
	var wg sync.WaitGroup
	for _, m := range []*Manager{f.m, other} {
		wg.Go(func() {
			if _, err := m.RotateIfDue(ctx, period, prepublish); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, alg := range AlgorithmNames() {
		if a, n := len(f.store.inState(alg, storage.KeyActive)), len(f.store.inState(alg, storage.KeyNext)); a != 1 || n != 1 {
			t.Fatalf("%s: %d active, %d next after concurrent scheduling", alg, a, n)
		}
	}
}

func TestRotateIfDueEdgeCases(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, c := range [][2]time.Duration{{0, 0}, {time.Hour, time.Hour}, {time.Hour, -1}, {-time.Hour, 0}} {
		if _, err := f.m.RotateIfDue(ctx, c[0], c[1]); err == nil {
			t.Errorf("RotateIfDue(%s, %s) accepted", c[0], c[1])
		}
	}
	// Without any key it behaves like Ensure.
	if changed, err := f.m.RotateIfDue(ctx, time.Hour, 0); err != nil || !changed {
		t.Fatalf("RotateIfDue on an empty store = %v, %v", changed, err)
	}
	first := mustSigner(t, f.m, "ES256").ID()
	// prepublish 0: a due key is created and promoted in one step.
	f.clock.Advance(time.Hour)
	if changed, err := f.m.RotateIfDue(ctx, time.Hour, 0); err != nil || !changed {
		t.Fatalf("RotateIfDue = %v, %v", changed, err)
	}
	if mustSigner(t, f.m, "ES256").ID() == first {
		t.Fatal("prepublish=0 did not rotate immediately")
	}
}

func BenchmarkSigner(b *testing.B) {
	f := newFixture(b)
	mustEnsure(b, f.m)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.m.Signer(ctx, "RS256"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchmarkSign(b *testing.B, alg string) {
	f := newFixture(b)
	mustEnsure(b, f.m)
	ctx := context.Background()
	payload := []byte(`{"iss":"https://myaccount.example","sub":"user","aud":"client","exp":1735732800}`)
	b.ReportAllocs()
	for b.Loop() {
		k, err := f.m.Signer(ctx, alg)
		if err != nil {
			b.Fatal(err)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: k.Private()},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), k.ID()))
		if err != nil {
			b.Fatal(err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRS256(b *testing.B) { benchmarkSign(b, "RS256") }
func BenchmarkSignES256(b *testing.B) { benchmarkSign(b, "ES256") }

// TestStateChangesCheckCurrentState covers the race the closures guard against: the row
// changed between our List and our Update (another instance promoted or retired it).
func TestStateChangesCheckCurrentState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	k, err := f.m.create(ctx, jose.ES256, storage.KeyActive, now)
	if err != nil {
		t.Fatal(err)
	}
	// We think it is still next, but it was promoted meanwhile: discarding it would
	// unpublish a signing key.
	if err := f.m.retire(ctx, k.ID, storage.KeyNext, now); err != nil {
		t.Fatal(err)
	}
	if got := f.store.get(k.ID); got.State != storage.KeyActive || got.DeleteAfter != nil {
		t.Fatalf("retire(from next) changed an active key: state %s, delete after %v", got.State, got.DeleteAfter)
	}
	if ok, err := f.m.promote(ctx, k.ID, now.Add(time.Hour)); err != nil || ok {
		t.Fatalf("promote of an active key = %v, %v; want false, nil", ok, err)
	}
	if got := f.store.get(k.ID); !got.ActivatedAt.Equal(now) {
		t.Fatalf("promote rewrote ActivatedAt of an active key: %v", got.ActivatedAt)
	}
	// Retired once: a second retirement (another instance) must not extend or move it.
	if err := f.m.retire(ctx, k.ID, storage.KeyActive, now); err != nil {
		t.Fatal(err)
	}
	first := *f.store.get(k.ID).DeleteAfter
	if err := f.m.retire(ctx, k.ID, storage.KeyActive, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := *f.store.get(k.ID).DeleteAfter; !got.Equal(first) {
		t.Fatalf("second retire moved DeleteAfter from %v to %v", first, got)
	}
	// Missing rows (pruned by another instance) are not errors.
	if err := f.m.retire(ctx, "gone", storage.KeyActive, now); err != nil {
		t.Fatalf("retire of a missing key: %v", err)
	}
	if ok, err := f.m.promote(ctx, "gone", now); err != nil || ok {
		t.Fatalf("promote of a missing key = %v, %v", ok, err)
	}
}

func TestSupported(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		if !Supported(alg) {
			t.Errorf("Supported(%q) = false", alg)
		}
	}
	for _, alg := range []string{"", "rs256", "HS256", "none", "PS256", "ES384", "Ed25519", "eddsa"} {
		if Supported(alg) {
			t.Errorf("Supported(%q) = true", alg)
		}
	}
}

// A failing store is asked at most once every RefreshEvery, however many made-up kids and
// JWKS requests come, one after the other or at once: a failed read counts as a read for
// the bound. The answer for an unknown kid meanwhile is the failure (the caller's 503), not
// "not published".
func TestFailedRereadIsBoundedToo(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b := f.manager(t, f.mkey)
	mustEnsure(t, f.m)
	mustEnsure(t, b)
	f.clock.Advance(RefreshEvery)
	f.store.mu.Lock()
	f.store.listErr = errors.New("database down")
	f.store.mu.Unlock()
	base := f.store.count("List")
	for range 10 {
		if ok, err := b.HasPublicKey(ctx, "made-up"); err == nil || ok {
			t.Fatalf("HasPublicKey(made-up) with the store down = %v, %v; want the failure", ok, err)
		}
		if _, err := b.PublishedKeys(ctx); err != nil {
			t.Fatalf("PublishedKeys with the store down: %v, want the copy", err)
		}
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if ok, err := b.HasPublicKey(ctx, "made-up"); err == nil || ok {
				t.Errorf("HasPublicKey(made-up) with the store down = %v, %v; want the failure", ok, err)
			}
		})
	}
	wg.Wait()
	if n := f.store.count("List") - base; n != 1 {
		t.Fatalf("%d reads of a failing store within RefreshEvery, want 1", n)
	}
	f.clock.Advance(RefreshEvery)
	b.HasPublicKey(ctx, "made-up")
	if n := f.store.count("List") - base; n != 2 {
		t.Fatalf("%d reads of a failing store after RefreshEvery, want 2", n)
	}
	// Back up: the next read after the bound succeeds.
	f.store.mu.Lock()
	f.store.listErr = nil
	f.store.mu.Unlock()
	f.clock.Advance(RefreshEvery)
	if ok, err := b.HasPublicKey(ctx, "made-up"); err != nil || ok {
		t.Fatalf("HasPublicKey(made-up) with the store back = %v, %v", ok, err)
	}
}

// A key A makes just after B read the keys (B reads them every second for the JWKS) is
// known to B from A's first token: B waits for the read RefreshEvery allows and looks again,
// instead of answering "not published" for the rest of the second. Callers that wait with
// it share that read.
func TestHasPublicKeyKnowsAKeyMadeJustAfterItsRead(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, b := f.m, f.manager(t, f.mkey)
	mustEnsure(t, a)
	mustEnsure(t, b)
	f.clock.Advance(RefreshEvery)
	if _, err := b.PublishedKeys(ctx); err != nil { // B reads the keys
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(100 * time.Millisecond)
	fresh := mustSigner(t, a, "ES256").ID()
	base := f.store.count("List")
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if ok, err := b.HasPublicKey(ctx, fresh); err != nil || !ok {
				t.Errorf("B does not know the key A made 100 ms after B's read: %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took > 2*RefreshEvery {
		t.Errorf("answered after %v, want within RefreshEvery", took)
	}
	if n := f.store.count("List") - base; n != 1 {
		t.Errorf("%d store reads for ten callers, want 1", n)
	}
}
