package licence

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func TestCodeFormatAndCheckCharacter(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		c := NewCode()
		if len(c) != CodeLength+3 || c[5] != '-' || c[11] != '-' || c[17] != '-' {
			t.Fatalf("code %q is not XXXXX-XXXXX-XXXXX-XXXXX", c)
		}
		bare, ok := Normalize(c)
		if !ok {
			t.Fatalf("fresh code %q does not normalise", c)
		}
		if seen[bare] {
			t.Fatalf("code %q drawn twice", c)
		}
		seen[bare] = true
		for _, look := range "01ILO" {
			if strings.ContainsRune(c, look) {
				t.Fatalf("code %q has look-alike %q", c, look)
			}
		}
		// Every single-character typo and every swap of two different neighbours is caught.
		for i := 0; i < CodeLength; i++ {
			for j := 0; j < len(Alphabet); j++ {
				if Alphabet[j] == bare[i] {
					continue
				}
				typo := bare[:i] + string(Alphabet[j]) + bare[i+1:]
				if _, ok := Normalize(typo); ok {
					t.Fatalf("typo %q of %q passes the check", typo, bare)
				}
			}
			if i+1 < CodeLength && bare[i] != bare[i+1] {
				swapped := bare[:i] + string(bare[i+1]) + string(bare[i]) + bare[i+2:]
				if _, ok := Normalize(swapped); ok {
					t.Fatalf("swap %q of %q passes the check", swapped, bare)
				}
			}
		}
	}
}

func TestNormalizeLikeTyped(t *testing.T) {
	t.Parallel()
	c := NewCode()
	bare, _ := Normalize(c)
	for _, typed := range []string{
		c, strings.ToLower(c), " " + strings.ReplaceAll(c, "-", " ") + " ", strings.ReplaceAll(c, "-", "\u2013"),
		strings.ReplaceAll(c, "-", ""), toFullWidth(c),
	} {
		got, ok := Normalize(typed)
		if !ok || got != bare {
			t.Errorf("Normalize(%q) = %q, %v; want %q", typed, got, ok, bare)
		}
	}
	if got, ok := Normalize("ВАХ"); ok || got != "" {
		t.Errorf("short input normalised")
	}
	// Cyrillic look-alikes are the Latin letters.
	cyr := strings.NewReplacer("A", "А", "B", "В", "C", "С", "E", "Е", "H", "Н", "K", "К", "M", "М", "P", "Р", "T", "Т", "X", "Х").Replace(c)
	if got, ok := Normalize(cyr); !ok || got != bare {
		t.Errorf("Normalize(cyrillic %q) = %q, %v", cyr, got, ok)
	}
	for _, bad := range []string{"", "hello", c + "2", strings.Repeat("2", 500), strings.Replace(c, c[:1], "O", 1)} {
		if _, ok := Normalize(bad); ok {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > ' ' && r < 0x7f {
			r += 0xfee0
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestDueReminder(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	day := 24 * time.Hour
	tests := []struct {
		name string
		l    storage.Licence
		kind string
		skip []string
	}{
		{"unlimited", storage.Licence{}, "", nil},
		{"40 days left", storage.Licence{ExpiresAt: at(40 * day)}, "", nil},
		{"20 days left", storage.Licence{ExpiresAt: at(20 * day)}, storage.Reminder30Days, nil},
		{"20 days left, sent", storage.Licence{ExpiresAt: at(20 * day), Reminded30At: at(-day)}, "", nil},
		{"5 days left, none sent", storage.Licence{ExpiresAt: at(5 * day)}, storage.Reminder7Days, []string{storage.Reminder30Days}},
		{"5 days left, 30 sent", storage.Licence{ExpiresAt: at(5 * day), Reminded30At: at(-day)}, storage.Reminder7Days, nil},
		{"expired, none sent", storage.Licence{ExpiresAt: at(-time.Minute)}, storage.ReminderExpiry, []string{storage.Reminder30Days, storage.Reminder7Days}},
		{"expired, all sent", storage.Licence{ExpiresAt: at(-day), Reminded30At: at(-day), Reminded7At: at(-day), ExpiryNotifiedAt: at(-day)}, "", nil},
	}
	for _, tt := range tests {
		kind, skip := dueReminder(&tt.l, now)
		if kind != tt.kind || fmt.Sprint(skip) != fmt.Sprint(tt.skip) {
			t.Errorf("%s: dueReminder = %q %v, want %q %v", tt.name, kind, skip, tt.kind, tt.skip)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// outbox queues in memory; fail makes the next SendIn calls fail, as a full disk would.
type outbox struct {
	mu     sync.Mutex
	sent   []mail.Message
	fail   int
	nudged int
}

func (o *outbox) SendIn(_ context.Context, _ storage.OutboxStore, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail > 0 {
		o.fail--
		return errors.New("outbox: disk full")
	}
	o.sent = append(o.sent, m)
	return nil
}

func (o *outbox) Nudge() { o.mu.Lock(); o.nudged++; o.mu.Unlock() }

type echo struct{}

func (echo) T(_, msg string, args ...any) string { return fmt.Sprintf(msg, args...) }

type fixture struct {
	svc   *Service
	db    storage.Store
	clock *clock
	mail  *outbox
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newFixtureOn(t, db)
}

// newFixtureOn is newFixture over db (PostgreSQL for the race tests).
func newFixtureOn(t *testing.T, db storage.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	for _, u := range []string{"u1", "u2"} {
		must(t, db.CreateUser(ctx, &storage.User{ID: u, Email: u + "@example.com", EmailNormalized: u + "@example.com", Status: storage.UserActive}))
	}
	for _, cl := range []string{"av-app", "vault-app"} {
		must(t, db.CreateClient(ctx, &storage.Client{ID: cl, Name: cl, Type: storage.ClientNative}))
	}
	must(t, db.CreateProduct(ctx, &storage.Product{ID: "antivirus", Name: "Antivirus", ClientIDs: []string{"av-app"}}))
	must(t, db.CreateProduct(ctx, &storage.Product{ID: "vault", Name: "Vault", ClientIDs: []string{"vault-app"}}))
	ob := &outbox{}
	return &fixture{db: db, clock: c, mail: ob, svc: &Service{Store: db, Guard: &guard.Guard{Store: db, Now: c.now}, Now: c.now,
		Reminders: &Reminders{Mail: ob, Text: echo{}, AccountURL: "https://id.example/account/licences", RenewalURL: "https://shop.example/renew"}}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) grant(t *testing.T, id, user, client, device string) *storage.Grant {
	t.Helper()
	g := &storage.Grant{ID: id, UserID: user, ClientID: client, DeviceID: device, DeviceName: "Device " + id, CreatedAt: f.clock.now()}
	must(t, f.db.CreateGrant(context.Background(), g))
	return g
}

func TestRedeemIsGenericAndLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, codes, err := f.svc.Issue(ctx, IssueRequest{ProductID: "antivirus", Seats: 1, Days: 365, Count: 3}, Meta{Actor: "cli"})
	must(t, err)
	_, _, err = f.svc.Issue(ctx, IssueRequest{ProductID: "nope", Seats: 1, Count: 1}, Meta{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("issue for unknown product: %v", err)
	}
	l, err := f.svc.Redeem(ctx, "u1", strings.ToLower(codes[0].Code), Meta{IP: "192.0.2.1"})
	must(t, err)
	if l.UserID != "u1" || l.ExpiresAt == nil || !l.ExpiresAt.Equal(f.clock.now().Add(365*24*time.Hour)) {
		t.Fatalf("redeemed licence = %+v", l)
	}
	// Redeeming one's own code again is fine; someone else's looks like an unknown code.
	_, err = f.svc.Redeem(ctx, "u1", codes[0].Code, Meta{IP: "192.0.2.1"})
	must(t, err)
	_, errTaken := f.svc.Redeem(ctx, "u2", codes[0].Code, Meta{IP: "192.0.2.2"})
	_, errUnknown := f.svc.Redeem(ctx, "u2", NewCode(), Meta{IP: "192.0.2.2"})
	_, err = f.svc.Revoke(ctx, codes[1].ID, Meta{Actor: "cli"})
	must(t, err)
	_, errRevoked := f.svc.Redeem(ctx, "u2", codes[1].Code, Meta{IP: "192.0.2.2"})
	for name, e := range map[string]error{"taken": errTaken, "unknown": errUnknown, "revoked": errRevoked} {
		if !errors.Is(e, ErrInvalidCode) {
			t.Errorf("%s code: %v, want ErrInvalidCode", name, e)
		}
	}
	if _, err := f.svc.Redeem(ctx, "u2", "not a code", Meta{IP: "192.0.2.2"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
	// Brute force: the account's attempts run out (3 used above), then even a good code waits.
	for i := 0; i < guard.LicenceRedeemAccount.Limit()-3; i++ {
		if _, err := f.svc.Redeem(ctx, "u2", NewCode(), Meta{IP: fmt.Sprintf("198.51.100.%d", i)}); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := f.svc.Redeem(ctx, "u2", codes[2].Code, Meta{IP: "203.0.113.9"}); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("over the account limit: %v", err)
	}
	// An hour later the account may try again.
	f.clock.add(time.Hour + time.Second)
	if _, err := f.svc.Redeem(ctx, "u2", codes[2].Code, Meta{IP: "203.0.113.9"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// One IP across many accounts is limited too.
	var last error
	for i := 0; i <= guard.LicenceRedeemIP.Limit(); i++ {
		_, last = f.svc.Redeem(ctx, fmt.Sprintf("u%d", i%2+1), NewCode(), Meta{IP: "203.0.113.77"})
	}
	if !errors.Is(last, ErrTooManyAttempts) {
		t.Errorf("over the IP limit: %v", last)
	}
}

func TestSeatsEntitlementsAndProducts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, codes, err := f.svc.Issue(ctx, IssueRequest{ProductID: "antivirus", Seats: 1, Days: 30, Count: 1}, Meta{})
	must(t, err)
	_, err = f.svc.Redeem(ctx, "u1", codes[0].Code, Meta{})
	must(t, err)
	g1 := f.grant(t, "g1", "u1", "av-app", "laptop-1")
	g2 := f.grant(t, "g2", "u1", "av-app", "phone-2")
	es, err := f.svc.Entitlements(ctx, "u1", "av-app", g1, true)
	must(t, err)
	if len(es) != 1 || !es[0].ThisDevice || es[0].SeatsUsed != 1 || es[0].Seats != 1 || es[0].Product != "antivirus" {
		t.Fatalf("first device: %+v", es)
	}
	es, err = f.svc.Entitlements(ctx, "u1", "av-app", g2, true)
	must(t, err)
	if len(es) != 1 || es[0].ThisDevice || es[0].SeatsUsed != 1 {
		t.Fatalf("second device: %+v", es)
	}
	var full *SeatsFullError
	if err := f.svc.Activate(ctx, codes[0].ID, g2, Meta{}); !errors.As(err, &full) || len(full.Holders) != 1 || full.Holders[0].DeviceName != "Device g1" {
		t.Fatalf("explicit activation on a full licence: %v", err)
	}
	// Another product's client sees nothing of it, and cannot bind it.
	gv := f.grant(t, "gv", "u1", "vault-app", "laptop-1")
	es, err = f.svc.Entitlements(ctx, "u1", "vault-app", gv, true)
	must(t, err)
	if len(es) != 0 {
		t.Fatalf("vault sees %+v", es)
	}
	if err := f.svc.Activate(ctx, codes[0].ID, gv, Meta{}); !errors.Is(err, ErrNotProduct) {
		t.Fatalf("activation by another product: %v", err)
	}
	// Another person cannot free or activate it.
	if err := f.svc.Free(ctx, "u2", codes[0].ID, DeviceKey(g1), Meta{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("free by someone else: %v", err)
	}
	must(t, f.svc.Free(ctx, "u1", codes[0].ID, DeviceKey(g1), Meta{}))
	// The installation the person removed it from does not take it back by itself.
	es, err = f.svc.Entitlements(ctx, "u1", "av-app", g1, true)
	must(t, err)
	if len(es) != 1 || es[0].ThisDevice || es[0].SeatsUsed != 0 {
		t.Fatalf("first device after removal: %+v", es)
	}
	es, err = f.svc.Entitlements(ctx, "u1", "av-app", g2, true)
	must(t, err)
	if len(es) != 1 || !es[0].ThisDevice {
		t.Fatalf("second device after the seat was freed: %+v", es)
	}
	// Expiry: the claim is gone.
	f.clock.add(31 * 24 * time.Hour)
	es, err = f.svc.Entitlements(ctx, "u1", "av-app", g2, true)
	must(t, err)
	if len(es) != 0 {
		t.Fatalf("after expiry: %+v", es)
	}
	if err := f.svc.Activate(ctx, codes[0].ID, g1, Meta{}); !errors.Is(err, ErrInactive) {
		t.Fatalf("activating an expired licence: %v", err)
	}
	// Extending brings it back from now.
	l, err := f.svc.Extend(ctx, codes[0].ID, 10, Meta{Actor: "cli"})
	must(t, err)
	if !l.ExpiresAt.Equal(f.clock.now().Add(10 * 24 * time.Hour)) {
		t.Fatalf("extended to %v", l.ExpiresAt)
	}
	es, err = f.svc.Entitlements(ctx, "u1", "av-app", g2, false)
	must(t, err)
	if len(es) != 1 {
		t.Fatalf("after extension: %+v", es)
	}
}

func TestRemindersOncePerKind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, codes, err := f.svc.Issue(ctx, IssueRequest{ProductID: "antivirus", Seats: 1, Days: 40, Count: 1}, Meta{})
	must(t, err)
	_, err = f.svc.Redeem(ctx, "u1", codes[0].Code, Meta{})
	must(t, err)
	step := func(d time.Duration, want int) {
		t.Helper()
		f.clock.add(d)
		for range 2 { // a second run (or instance) sends nothing more
			if _, err := f.svc.SendReminders(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if len(f.mail.sent) != want {
			t.Fatalf("after %v: %d mails, want %d", d, len(f.mail.sent), want)
		}
	}
	step(0, 0)
	step(11*24*time.Hour, 1) // 29 days left
	step(22*24*time.Hour, 2) // 7 days left
	step(6*24*time.Hour, 2)  // 1 day left
	step(2*24*time.Hour, 3)  // expired
	step(30*24*time.Hour, 3)
	// The time actually left (29 days at the first), not the reminder's name.
	for i, want := range []string{"ends in 29 days", "ends in 7 days", "has expired"} {
		m := f.mail.sent[i]
		if m.To != "u1@example.com" || !strings.Contains(m.Subject, want) || !strings.Contains(m.Text, "https://shop.example/renew") {
			t.Errorf("mail %d = %+v, want %q", i, m, want)
		}
	}
	evs, err := f.db.ListAuditEvents(ctx, "u1", 20)
	must(t, err)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !strings.Contains(strings.Join(types, " "), EventExpired) || !strings.Contains(strings.Join(types, " "), EventAdded) {
		t.Errorf("activity = %v", types)
	}
}

// TestReminderQueueFailureIsRetried: a reminder whose mail could not be queued is sent by
// the next run, once. Before, its "sent" mark committed on its own, the queueing failed
// after it, and the reminder was lost for good.
func TestReminderQueueFailureIsRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, codes, err := f.svc.Issue(ctx, IssueRequest{ProductID: "antivirus", Seats: 1, Days: 20, Count: 1}, Meta{})
	must(t, err)
	_, err = f.svc.Redeem(ctx, "u1", codes[0].Code, Meta{})
	must(t, err)
	f.mail.fail = 1
	if n, err := f.svc.SendReminders(ctx); err == nil || n != 0 {
		t.Fatalf("queueing failed: %d sent, err %v; want 0 and the error", n, err)
	}
	for range 2 {
		if _, err := f.svc.SendReminders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.mail.sent) != 1 || !strings.Contains(f.mail.sent[0].Subject, "ends in 20 days") {
		t.Fatalf("after the failure: %d mails %+v, want one saying 20 days", len(f.mail.sent), f.mail.sent)
	}
	if f.mail.nudged != 1 {
		t.Errorf("the worker was nudged %d times, want once (after the commit that queued)", f.mail.nudged)
	}
}

// TestOperatorActionsAuditedWithTheChange: an operator's revocation and extension commit
// with their audit event: when the event cannot be written, nothing changes and the error
// is returned; the retry makes the change with one event. Before, the change committed and
// the event was written after it, best effort: a failure left a revoked licence no audit
// could account for.
func TestOperatorActionsAuditedWithTheChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	fs := faultstore.New(f.db)
	f.svc.Store = fs
	_, codes, err := f.svc.Issue(ctx, IssueRequest{ProductID: "antivirus", Seats: 1, Days: 40, Count: 1}, Meta{})
	must(t, err)
	l, err := f.svc.Redeem(ctx, "u1", codes[0].Code, Meta{})
	must(t, err)
	op := Meta{Actor: "cli:ops", Reason: "ticket 7"}
	events := func(typ string) int {
		evs, err := f.db.QueryAuditEvents(ctx, storage.AuditQuery{Type: typ, Target: "licence:" + l.ID, Limit: 10})
		must(t, err)
		return len(evs)
	}
	end := *l.ExpiresAt
	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	if _, err := f.svc.Extend(ctx, l.ID, 10, op); err == nil {
		t.Fatal("extend with its event failing: no error")
	}
	got, err := f.db.GetLicence(ctx, l.ID)
	must(t, err)
	if !got.ExpiresAt.Equal(end) || events(EventExtended) != 0 {
		t.Fatalf("a failed extension changed the end to %v (events %d)", got.ExpiresAt, events(EventExtended))
	}
	_, err = f.svc.Extend(ctx, l.ID, 10, op)
	must(t, err)
	if events(EventExtended) != 1 {
		t.Errorf("%d extension events, want 1", events(EventExtended))
	}

	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	if _, err := f.svc.Revoke(ctx, l.ID, op); err == nil {
		t.Fatal("revoke with its event failing: no error")
	}
	if got, err := f.db.GetLicence(ctx, l.ID); err != nil || got.RevokedAt != nil {
		t.Fatalf("a failed revocation revoked the licence (%v)", err)
	}
	_, err = f.svc.Revoke(ctx, l.ID, op)
	must(t, err)
	if events(EventRevoked) != 1 {
		t.Errorf("%d revocation events, want 1", events(EventRevoked))
	}
}
