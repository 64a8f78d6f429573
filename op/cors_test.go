package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// listStore counts ListClients, and fails or holds it when told to.
type listStore struct {
	storage.Store
	lists   atomic.Int32
	fail    atomic.Bool
	entered chan struct{} // when set, told of each ListClients, which then waits for release
	release chan struct{}
}

func (s *listStore) ListClients(ctx context.Context) ([]*storage.Client, error) {
	s.lists.Add(1)
	if s.entered != nil {
		s.entered <- struct{}{}
		<-s.release
	}
	if s.fail.Load() {
		return nil, errors.New("database down")
	}
	return s.Store.ListClients(ctx)
}

// TestCORSOriginMissesBoundedWhenTheStoreFails: origins nobody registered (anyone can send
// them, each different) read the clients at most every originMissTTL even when the read
// fails, and a registered origin stays allowed through the failure.
func TestCORSOriginMissesBoundedWhenTheStoreFails(t *testing.T) {
	p, c := newPolicyProvider(t)
	if err := p.cfg.Store.CreateClient(t.Context(), &storage.Client{ID: "spa", Name: "SPA", Type: storage.ClientPublic, RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	st := &listStore{Store: p.cfg.Store}
	origins := &originCache{store: st, now: c.now}
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	if !corsAllowed(origins, r, "https://app.example") {
		t.Fatal("the registered origin is refused")
	}
	c.t = c.t.Add(originMissTTL + time.Millisecond)
	st.fail.Store(true)
	base := st.lists.Load()
	for i := range 20 {
		if corsAllowed(origins, r, fmt.Sprintf("https://x%d.example", i)) {
			t.Fatal("an unregistered origin is allowed")
		}
		if !corsAllowed(origins, r, "https://app.example") {
			t.Fatal("the registered origin is refused while the store fails")
		}
	}
	if n := st.lists.Load() - base; n != 1 {
		t.Fatalf("%d reads of a failing store for 20 unregistered origins within originMissTTL, want 1", n)
	}
	c.t = c.t.Add(originMissTTL + time.Millisecond)
	corsAllowed(origins, r, "https://y.example")
	if n := st.lists.Load() - base; n != 2 {
		t.Fatalf("%d reads after originMissTTL, want 2", n)
	}
}

// TestCORSKnownOriginDoesNotWaitForAMissRead: while an unregistered origin has the clients
// read again (a slow database), a registered origin is answered from the set in memory, not
// held up behind the read.
func TestCORSKnownOriginDoesNotWaitForAMissRead(t *testing.T) {
	p, c := newPolicyProvider(t)
	if err := p.cfg.Store.CreateClient(t.Context(), &storage.Client{ID: "spa", Name: "SPA", Type: storage.ClientPublic, RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	st := &listStore{Store: p.cfg.Store}
	origins := &originCache{store: st, now: c.now}
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	if !corsAllowed(origins, r, "https://app.example") {
		t.Fatal("the registered origin is refused")
	}
	c.t = c.t.Add(originMissTTL + time.Millisecond)
	st.entered, st.release = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { corsAllowed(origins, r, "https://unknown.example") })
	<-st.entered
	answered := make(chan bool, 1)
	wg.Go(func() { answered <- corsAllowed(origins, r, "https://app.example") })
	select {
	case ok := <-answered:
		if !ok {
			t.Error("the registered origin is refused during a read")
		}
		close(st.release)
	case <-time.After(2 * time.Second):
		close(st.release)
		t.Fatal("a registered origin waited for another origin's read of the clients")
	}
}
