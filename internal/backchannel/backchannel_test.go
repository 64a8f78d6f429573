package backchannel_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

type fixture struct {
	st     storage.Store
	km     *keys.Manager
	outbox *mail.Outbox
	svc    *backchannel.Service
	rp     *httptest.Server
	status atomic.Int32 // the RP's answer; 0 is 204
	mu     sync.Mutex
	got    []map[string]any
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir()+"/bc.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, err := keys.ParseMasterKey(keys.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(st, mk, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Retries within 80 ms: the test works the outbox by hand.
	ob, err := mail.NewOutbox(mail.OutboxConfig{Store: st, Sender: mail.LogSender{Logger: log}, Holder: "test", Logger: log,
		BaseDelay: 40 * time.Millisecond, MaxDelay: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, km: km, outbox: ob}
	f.svc = backchannel.New(backchannel.Service{Store: st, Queue: ob, Keys: km, Issuer: "https://id.example", Logger: log})
	ob.Handle(backchannel.TaskKind, f.svc.Deliver)
	f.rp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := f.status.Load(); s != 0 {
			if s == http.StatusFound {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(int(s))
			return
		}
		claims, err := f.verify(r.Context(), r.PostFormValue("logout_token"))
		if err != nil {
			t.Errorf("logout token: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, claims)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.rp.Close)
	return f
}

// verify checks the token's signature with the published keys.
func (f *fixture) verify(ctx context.Context, raw string) (map[string]any, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, err
	}
	pub, err := f.km.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: pub}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		return nil, errors.New("unknown kid")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return nil, err
	}
	var c map[string]any
	return c, json.Unmarshal(payload, &c)
}

// ended tells the service of e inside a transaction, as sessions.Tell does.
func (f *fixture) ended(ctx context.Context, e sessions.Ended) error {
	return f.st.InTx(ctx, func(tx storage.Store) error { return f.svc.SessionsEnded(ctx, tx, e) })
}

func (f *fixture) received() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.got...)
}

func (f *fixture) client(t *testing.T, uri string, sessionRequired bool) *storage.Client {
	t.Helper()
	c := &storage.Client{ID: secret.NewID(), Name: "rp", Type: storage.ClientConfidential, IDTokenAlg: "RS256",
		BackchannelLogoutURI: uri, BackchannelLogoutSessionRequired: sessionRequired,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := f.st.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func grant(clientID, userID, sid string) *storage.Grant {
	return &storage.Grant{ID: secret.NewID(), ClientID: clientID, UserID: userID, SessionID: sid}
}

// TestRetryUntilDelivered: an RP answering 503 is tried again (with a fresh token) until it
// takes the token; redirects are not followed.
func TestRetryUntilDelivered(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c := f.client(t, f.rp.URL+"/logout", false)
	f.status.Store(http.StatusServiceUnavailable)
	err := f.ended(ctx, sessions.Ended{UserID: "u1", Sessions: []string{"s1"},
		Grants: []*storage.Grant{grant(c.ID, "u1", "s1")}})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.outbox.Work(ctx); n != 1 || len(f.received()) != 0 {
		t.Fatalf("first attempt: handled %d, received %d", n, len(f.received()))
	}
	f.status.Store(http.StatusFound) // a redirect is a failure, not followed
	time.Sleep(100 * time.Millisecond)
	f.outbox.Work(ctx)
	if len(f.received()) != 0 {
		t.Fatal("a redirect was followed")
	}
	f.status.Store(0)
	time.Sleep(100 * time.Millisecond)
	f.outbox.Work(ctx)
	got := f.received()
	if len(got) != 1 {
		t.Fatalf("after the RP came back: %d tokens, want 1", len(got))
	}
	if got[0]["sid"] != "s1" || got[0]["sub"] != "u1" || got[0]["aud"] != c.ID || got[0]["iss"] != "https://id.example" {
		t.Errorf("claims %v", got[0])
	}
	if _, ok := got[0]["nonce"]; ok {
		t.Error("nonce in a logout token")
	}
	// Delivered once: nothing is left to do.
	time.Sleep(100 * time.Millisecond)
	if n := f.outbox.Work(ctx); n != 0 {
		t.Errorf("%d items still queued after delivery", n)
	}
}

// TestWhoIsTold: the rule of which clients hear of a sign-out.
func TestWhoIsTold(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	withURI := f.client(t, f.rp.URL+"/a", false)
	needsSID := f.client(t, f.rp.URL+"/b", true)
	without := f.client(t, "", false)
	deviceApp := f.client(t, f.rp.URL+"/c", false)
	revokedAt := time.Now()
	grants := []*storage.Grant{
		grant(withURI.ID, "u1", "s1"),
		grant(withURI.ID, "u1", "s1"),     // a second grant of the same session: one token
		grant(without.ID, "u1", "s1"),     // no logout URI: nothing
		grant(needsSID.ID, "u1", ""),      // a device's grant: no sid, and the client needs one
		grant(withURI.ID, "u1", "s-keep"), // the session kept
		grant(withURI.ID, "u1", ""),       // a device's grant of a client signed in through the kept session: a token naming the person alone would end that one too
		grant(deviceApp.ID, "u1", ""),     // a device's grant: told by sub only
	}
	old := grant(needsSID.ID, "u1", "s-old") // revoked before: not told again
	old.RevokedAt = &revokedAt
	grants = append(grants, old)
	err := f.ended(ctx, sessions.Ended{UserID: "u1", Sessions: []string{"s1"}, Everything: true, Keep: "s-keep", Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	// Two tasks queued in all: none for the client without a logout URI.
	if n := f.outbox.Work(ctx); n != 2 {
		t.Errorf("%d tasks queued, want 2", n)
	}
	got := f.received()
	if len(got) != 2 {
		t.Fatalf("told %d times, want 2: %v", len(got), got)
	}
	told := map[string]any{}
	for _, c := range got {
		aud, _ := c["aud"].(string)
		told[aud] = c["sid"]
	}
	if sid, ok := told[withURI.ID]; !ok || sid != "s1" {
		t.Errorf("the app signed in through s1 and the kept session: told %v, want sid s1 only", told)
	}
	if sid, ok := told[deviceApp.ID]; !ok || sid != nil {
		t.Errorf("the device's app: told %v, want the person alone (no sid)", told)
	}
}

// TestOutboundRefuses: the outbound client calls only https or loopback http, and a client
// deleted meanwhile is told nothing.
func TestOutboundRefuses(t *testing.T) {
	for _, raw := range []string{"http://example.com/logout", "ftp://example.com/", "https://user:pw@example.com/", "/relative"} {
		if _, err := backchannel.CheckURL(raw); !errors.Is(err, backchannel.ErrRefused) {
			t.Errorf("CheckURL(%q) = %v, want refused", raw, err)
		}
	}
	for _, raw := range []string{"https://rp.example/logout", "http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]:8/x"} {
		if _, err := backchannel.CheckURL(raw); err != nil {
			t.Errorf("CheckURL(%q) = %v", raw, err)
		}
	}
	// https to a name that is not loopback but resolves to it (here: the literal is not
	// named loopback... an IPv4-mapped loopback) is refused at the dial.
	out := backchannel.NewOutbound()
	if _, err := out.Get(t.Context(), "https://[::ffff:127.0.0.1]:1/"); !errors.Is(err, backchannel.ErrRefused) {
		t.Errorf("mapped loopback: %v, want refused", err)
	}
	for _, raw := range []string{"https://10.0.0.1/", "https://169.254.169.254/latest", "https://[fe80::1]/", "https://0.0.0.0/"} {
		if _, err := out.Get(t.Context(), raw); !errors.Is(err, backchannel.ErrRefused) {
			t.Errorf("%s: %v, want refused", raw, err)
		}
	}
}
