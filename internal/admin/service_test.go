package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func newService(t *testing.T) (*admin.Service, storage.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/admin.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acc := &account.Service{Store: st, BaseURL: "https://id.example"}
	return &admin.Service{Store: st, Accounts: acc,
		Sessions: &sessions.Service{Store: st}}, st
}

func addUser(t *testing.T, st storage.Store, email, status string) *storage.User {
	t.Helper()
	now := time.Now().UTC()
	u := &storage.User{ID: secret.NewID(), Email: email, EmailNormalized: strings.ToLower(email), Status: status,
		PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	if status == storage.UserActive {
		u.ActivatedAt, u.EmailVerified = &now, true
	}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

var (
	adminPerson   = admin.Actor{UserID: "staff-admin", SecondFactor: true, Roles: []string{storage.RoleAdmin}, Scopes: admin.AllScopes, IP: "192.0.2.10"}
	supportPerson = admin.Actor{UserID: "staff-support", SecondFactor: true, Roles: []string{storage.RoleSupport}, Scopes: admin.AllScopes, IP: "192.0.2.11"}
)

// TestPermissions pins who may do what: roles intersected with scopes for people, scopes
// alone for clients.
func TestPermissions(t *testing.T) {
	all := []admin.Permission{admin.ReadUsers, admin.SupportUsers, admin.ManageUsers, admin.ReadClients, admin.ManageClients, admin.ReadAudit, admin.ManageRoles}
	cases := []struct {
		name  string
		actor admin.Actor
		want  []admin.Permission
	}{
		{"cli", admin.CLI(), all},
		{"admin person, every scope", adminPerson, all},
		{"admin person, admin:read only", admin.Actor{UserID: "a", SecondFactor: true, Roles: []string{storage.RoleAdmin}, Scopes: []string{admin.ScopeRead}},
			[]admin.Permission{admin.ReadUsers, admin.ReadClients, admin.ReadAudit}},
		{"support person, every scope", supportPerson, []admin.Permission{admin.ReadUsers, admin.SupportUsers}},
		{"support person asking admin:write", admin.Actor{UserID: "s", SecondFactor: true, Roles: []string{storage.RoleSupport}, Scopes: []string{admin.ScopeWrite}}, nil},
		{"person without a role", admin.Actor{UserID: "p", SecondFactor: true, Scopes: admin.AllScopes}, nil},
		{"client admin:write", admin.Actor{ClientID: "c", Scopes: []string{admin.ScopeWrite}},
			[]admin.Permission{admin.ReadUsers, admin.SupportUsers, admin.ManageUsers, admin.ReadClients, admin.ManageClients, admin.ReadAudit, admin.ManageRoles}},
		{"client support", admin.Actor{ClientID: "c", Scopes: []string{admin.ScopeSupport}}, []admin.Permission{admin.ReadUsers, admin.SupportUsers}},
		{"client with roles but no scope", admin.Actor{ClientID: "c", Roles: []string{storage.RoleAdmin}, Scopes: []string{"openid"}}, nil},
	}
	for _, c := range cases {
		for _, p := range all {
			want := false
			for _, w := range c.want {
				want = want || w == p
			}
			if got := c.actor.Can(p); got != want {
				t.Errorf("%s: Can(%s) = %v, want %v", c.name, p, got, want)
			}
		}
	}
}

// TestSupportCannotTouchClients: every client operation refuses support before it changes
// anything, and says which permission is missing.
func TestSupportCannotTouchClients(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	c, _, err := svc.CreateClient(ctx, adminPerson, admin.ClientSpec{Name: "Shop", Type: storage.ClientConfidential,
		RedirectURIs: []string{"https://shop.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	name := "Evil"
	checks := map[string]error{}
	_, _, checks["create"] = svc.CreateClient(ctx, supportPerson, admin.ClientSpec{Name: "x", Type: storage.ClientPublic, RedirectURIs: []string{"https://x.example/cb"}})
	_, checks["list"] = svc.ListClients(ctx, supportPerson)
	_, checks["show"] = svc.GetClient(ctx, supportPerson, c.ClientID)
	_, checks["update"] = svc.UpdateClient(ctx, supportPerson, c.ClientID, "", admin.ClientPatch{Name: &name})
	_, checks["rotate"] = svc.RotateSecret(ctx, supportPerson, c.ClientID)
	checks["delete"] = svc.DeleteClient(ctx, supportPerson, c.ClientID, "")
	_, checks["audit"] = svc.QueryAudit(ctx, supportPerson, admin.AuditFilter{}, "", 0)
	_, checks["lock"] = svc.LockUser(ctx, supportPerson, "u", "", "because")
	checks["delete user"] = svc.DeleteUser(ctx, supportPerson, "u", "", "because")
	for op, err := range checks {
		var fe *admin.ForbiddenError
		if !errors.Is(err, admin.ErrForbidden) || !errors.As(err, &fe) {
			t.Errorf("support %s: err = %v, want ErrForbidden", op, err)
		}
	}
	got, err := st.GetClient(ctx, c.ClientID)
	if err != nil || got.Name != "Shop" {
		t.Fatalf("client after refused changes = %+v, %v", got, err)
	}
	cs, _ := st.ListClients(ctx)
	if len(cs) != 1 {
		t.Fatalf("%d clients, want 1", len(cs))
	}
}

func events(t *testing.T, st storage.Store, q storage.AuditQuery) []*storage.AuditEvent {
	t.Helper()
	es, err := st.QueryAuditEvents(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestClientLifecycle(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	_, _, err := svc.CreateClient(ctx, adminPerson, admin.ClientSpec{Type: "spaceship", GrantTypes: []string{"password"},
		RedirectURIs: []string{"http://evil.example/cb"}, LogoURI: "http://logo.example/l.png"})
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("invalid spec: err = %v", err)
	}
	fields := map[string]bool{}
	for _, p := range ve.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"name", "type", "grant_types", "logo_uri"} {
		if !fields[f] {
			t.Errorf("problems %v lack %s", ve.Problems, f)
		}
	}

	c, sec, err := svc.CreateClient(ctx, adminPerson, admin.ClientSpec{Name: "Robot", Type: storage.ClientConfidential,
		GrantTypes: []string{admin.GrantClientCredentials}, Scopes: []string{admin.ScopeRead}})
	if err != nil || sec == "" || c.ETag == "" {
		t.Fatalf("create = %+v, %q, %v", c, sec, err)
	}
	stored, _ := st.GetClient(ctx, c.ClientID)
	if stored.SecretHash != secret.HashToken(sec) {
		t.Fatal("the stored hash is not the returned secret's")
	}
	ev := events(t, st, storage.AuditQuery{Target: "client:" + c.ClientID})
	if len(ev) != 1 || ev[0].Type != "admin.client.create" || ev[0].Actor != "user:staff-admin" || ev[0].IP != "192.0.2.10" {
		t.Fatalf("create audit = %+v", ev)
	}

	name := "Robot 2"
	if _, err := svc.UpdateClient(ctx, adminPerson, c.ClientID, `"stale"`, admin.ClientPatch{Name: &name}); !errors.Is(err, admin.ErrPreconditionFailed) {
		t.Fatalf("update with a stale ETag: %v", err)
	}
	up, err := svc.UpdateClient(ctx, adminPerson, c.ClientID, c.ETag, admin.ClientPatch{Name: &name})
	if err != nil || up.Name != name || up.ETag == c.ETag {
		t.Fatalf("update = %+v, %v", up, err)
	}
	if _, err := svc.UpdateClient(ctx, adminPerson, c.ClientID, c.ETag, admin.ClientPatch{Name: &name}); !errors.Is(err, admin.ErrPreconditionFailed) {
		t.Fatalf("second update with the first ETag: %v", err)
	}
	bad := []string{"javascript:alert(1)"}
	if _, err := svc.UpdateClient(ctx, adminPerson, c.ClientID, "", admin.ClientPatch{RedirectURIs: &bad}); !errors.As(err, &ve) {
		t.Fatalf("bad redirect: %v", err)
	}
	sec2, err := svc.RotateSecret(ctx, adminPerson, c.ClientID)
	if err != nil || sec2 == sec {
		t.Fatalf("rotate = %q, %v", sec2, err)
	}
	after, _ := svc.GetClient(ctx, adminPerson, c.ClientID)
	if after.ETag == up.ETag {
		t.Fatal("rotation kept the ETag")
	}
	if err := svc.DeleteClient(ctx, adminPerson, c.ClientID, up.ETag); !errors.Is(err, admin.ErrPreconditionFailed) {
		t.Fatalf("delete with a stale ETag: %v", err)
	}
	if err := svc.DeleteClient(ctx, adminPerson, c.ClientID, after.ETag); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetClient(ctx, adminPerson, c.ClientID); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
	// Events of one millisecond are ordered by their random ids: compare as a set.
	var types []string
	for _, e := range events(t, st, storage.AuditQuery{Target: "client:" + c.ClientID}) {
		types = append(types, e.Type)
	}
	slices.Sort(types)
	want := "admin.client.create admin.client.delete admin.client.rotate_secret admin.client.update"
	if strings.Join(types, " ") != want {
		t.Fatalf("audit trail %v, want %s", types, want)
	}
}

func TestLockUnlockAndLockout(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	u := addUser(t, st, "ada@example.com", storage.UserActive)
	if _, err := svc.LockUser(ctx, adminPerson, u.ID, "", " "); !isValidation(err, "reason") {
		t.Fatalf("lock without reason: %v", err)
	}
	sess := &storage.Session{ID: "s1", TokenHash: "h1", UserID: u.ID, CreatedAt: time.Now(), LastSeenAt: time.Now(),
		AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	before, _ := svc.GetUser(ctx, supportPerson, u.ID)
	if _, err := svc.LockUser(ctx, adminPerson, u.ID, `"nope"`, "fraud"); !errors.Is(err, admin.ErrPreconditionFailed) {
		t.Fatalf("lock with a stale ETag: %v", err)
	}
	locked, err := svc.LockUser(ctx, adminPerson, u.ID, before.ETag, "fraud report #12")
	if err != nil || locked.Status != storage.UserLocked {
		t.Fatalf("lock = %+v, %v", locked, err)
	}
	if s, _ := st.GetSession(ctx, "s1"); s.RevokedAt == nil {
		t.Fatal("a lock left the session live")
	}
	d, err := svc.GetUser(ctx, supportPerson, u.ID)
	if err != nil || !d.Lock.Locked || d.Lock.Reason != "fraud report #12" || d.Lock.By != "user:staff-admin" {
		t.Fatalf("detail lock = %+v, %v", d.Lock, err)
	}
	if _, err := svc.LockUser(ctx, adminPerson, u.ID, "", "again"); !errors.Is(err, admin.ErrWrongState) {
		t.Fatalf("second lock: %v", err)
	}
	un, err := svc.UnlockUser(ctx, supportPerson, u.ID, "", "identity checked")
	if err != nil || un.Status != storage.UserActive {
		t.Fatalf("unlock = %+v, %v", un, err)
	}
	ev := events(t, st, storage.AuditQuery{Target: "user:" + u.ID, Type: "admin.user.unlock"})
	if len(ev) != 1 || ev[0].Actor != "user:staff-support" || ev[0].Reason != "identity checked" || ev[0].IP != "192.0.2.11" || ev[0].UserID != "" {
		t.Fatalf("unlock audit = %+v", ev)
	}

	// A password lockout (too many wrong passwords) shows, and unlock lifts it.
	for range 5 {
		_, _ = svc.Accounts.SignIn(ctx, u.Email, "wrong password here", account.Meta{})
	}
	d, _ = svc.GetUser(ctx, supportPerson, u.ID)
	if d.Lock.LockedOutUntil == nil || d.Lock.Locked {
		t.Fatalf("after 5 wrong passwords lock = %+v", d.Lock)
	}
	if _, err := svc.UnlockUser(ctx, supportPerson, u.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	d, _ = svc.GetUser(ctx, supportPerson, u.ID)
	if d.Lock.LockedOutUntil != nil {
		t.Fatalf("after unlock lock = %+v", d.Lock)
	}

	// A never-activated account goes back to pending.
	p := addUser(t, st, "pending@example.com", storage.UserPending)
	if _, err := svc.LockUser(ctx, adminPerson, p.ID, "", "spam"); err != nil {
		t.Fatal(err)
	}
	if un, _ := svc.UnlockUser(ctx, supportPerson, p.ID, "", ""); un.Status != storage.UserPending {
		t.Fatalf("unlocked pending account is %s", un.Status)
	}
}

func isValidation(err error, field string) bool {
	var ve *admin.ValidationError
	return errors.As(err, &ve) && len(ve.Problems) > 0 && ve.Problems[0].Field == field
}

func TestSupportActions(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	u := addUser(t, st, "bob@example.com", storage.UserActive)
	p := addUser(t, st, "new@example.com", storage.UserPending)
	for i, k := range []string{storage.MFATOTP, storage.MFAWebAuthn, storage.MFAWebAuthn} {
		if err := st.CreateMFACredential(ctx, &storage.MFACredential{ID: fmt.Sprint("f", i), UserID: u.ID, Kind: k,
			Name: k, CredentialID: []byte{byte(i)}, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ReplaceRecoveryCodes(ctx, u.ID, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	d, _ := svc.GetUser(ctx, supportPerson, u.ID)
	if d.FactorsByKind[storage.MFAWebAuthn] != 2 || d.FactorsByKind[storage.MFATOTP] != 1 || d.RecoveryCodes != 2 {
		t.Fatalf("factors = %v, %d codes", d.FactorsByKind, d.RecoveryCodes)
	}
	if _, err := svc.RemoveFactors(ctx, supportPerson, u.ID, "", ""); !isValidation(err, "reason") {
		t.Fatalf("remove factors without reason: %v", err)
	}
	if n, err := svc.RemoveFactors(ctx, supportPerson, u.ID, storage.MFATOTP, "lost phone"); err != nil || n != 1 {
		t.Fatalf("remove totp = %d, %v", n, err)
	}
	if n, err := svc.RemoveFactors(ctx, supportPerson, u.ID, "", "lost keys too"); err != nil || n != 2 {
		t.Fatalf("remove all = %d, %v", n, err)
	}
	d, _ = svc.GetUser(ctx, supportPerson, u.ID)
	if len(d.Factors) != 0 || d.RecoveryCodes != 0 {
		t.Fatalf("after removal: %+v, %d codes", d.Factors, d.RecoveryCodes)
	}
	ev := events(t, st, storage.AuditQuery{Target: "user:" + u.ID, Type: "admin.user.remove_factors"})
	// Both removals may share a millisecond, so their order in the log is not pinned.
	if len(ev) != 2 || !slices.ContainsFunc(ev, func(e *storage.AuditEvent) bool { return e.Reason == "lost keys too" && e.Detail == "all (2)" }) {
		for _, e := range ev {
			t.Logf("event %+v", *e)
		}
		t.Fatalf("remove audit: %d events, want 2 with the removal of all factors", len(ev))
	}

	if err := svc.ResendActivation(ctx, supportPerson, u.ID, ""); !errors.Is(err, admin.ErrWrongState) {
		t.Fatalf("activation for an active account: %v", err)
	}
	if err := svc.ResendActivation(ctx, supportPerson, p.ID, "asked by phone"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SendReset(ctx, supportPerson, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	c, _, err := svc.CreateClient(ctx, adminPerson, admin.ClientSpec{Name: "App", Type: storage.ClientPublic, RedirectURIs: []string{"https://app.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	g := &storage.Grant{ID: "g1", UserID: u.ID, ClientID: c.ClientID, CreatedAt: time.Now(), LastUsedAt: time.Now(), AuthTime: time.Now()}
	if err := st.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := svc.SignOutEverywhere(ctx, supportPerson, u.ID, "stolen laptop"); err != nil {
		t.Fatal(err)
	}
	if g, _ := st.GetGrant(ctx, "g1"); g.RevokedAt == nil {
		t.Fatal("sign out everywhere left the grant live")
	}
	types := map[string]bool{}
	for _, e := range events(t, st, storage.AuditQuery{Actor: "user:staff-support"}) {
		types[e.Type] = true
	}
	for _, want := range []string{"admin.user.resend_activation", "admin.user.send_reset", "admin.user.sign_out_everywhere"} {
		if !types[want] {
			t.Errorf("no %s event by support (have %v)", want, types)
		}
	}

	if err := svc.DeleteUser(ctx, adminPerson, u.ID, `"stale"`, "asked to"); !errors.Is(err, admin.ErrPreconditionFailed) {
		t.Fatalf("delete with a stale ETag: %v", err)
	}
	if err := svc.DeleteUser(ctx, adminPerson, u.ID, "", "asked to"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetUser(ctx, adminPerson, u.ID); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
	// The admin trail outlives the account.
	ev = events(t, st, storage.AuditQuery{Target: "user:" + u.ID, Type: "admin.user.delete"})
	if len(ev) != 1 || ev[0].Reason != "asked to" || ev[0].Actor != "user:staff-admin" {
		t.Fatalf("delete audit = %+v", ev)
	}
	if all := events(t, st, storage.AuditQuery{Target: "user:" + u.ID}); len(all) != 5 {
		t.Fatalf("trail after delete has %d events, want 5 (two removals, reset, sign-out, delete)", len(all))
	}
}

func TestSearchPagesEveryUserOnce(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	for i := range 7 {
		addUser(t, st, fmt.Sprintf("user%d@example.com", i), storage.UserActive)
	}
	addUser(t, st, "other@example.com", storage.UserPending)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		p, err := svc.SearchUsers(ctx, supportPerson, admin.UserFilter{EmailPrefix: "USER"}, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range p.Users {
			if seen[u.ID] || !strings.HasPrefix(u.Email, "user") {
				t.Fatalf("user %s twice or off the filter", u.Email)
			}
			seen[u.ID] = true
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("%d users in %d pages", len(seen), pages)
	}
	p, _ := svc.SearchUsers(ctx, supportPerson, admin.UserFilter{Status: storage.UserPending}, "", 0)
	if len(p.Users) != 1 || p.Next != "" {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := svc.SearchUsers(ctx, supportPerson, admin.UserFilter{}, "garbage!", 0); !isValidation(err, "cursor") {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := svc.SearchUsers(ctx, supportPerson, admin.UserFilter{Status: "sleepy"}, "", 0); !isValidation(err, "status") {
		t.Fatalf("bad status: %v", err)
	}
}

func TestAuditQueryAndExport(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	base := time.Now().UTC().Add(-time.Hour)
	u1 := addUser(t, st, "u1@example.com", storage.UserActive).ID
	for i := range 12 {
		e := &storage.AuditEvent{ID: fmt.Sprintf("e%02d", i), UserID: u1, Type: "login", IP: "198.51.100.1", CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if i%3 == 0 {
			e.UserID, e.Type, e.Actor, e.Target, e.Reason = "", "admin.user.unlock", "client:robot", "user:"+u1, "ticket"
		}
		if err := st.AddAuditEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for range 10 {
		p, err := svc.QueryAudit(ctx, adminPerson, admin.AuditFilter{UserID: u1}, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			got = append(got, e.ID)
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if strings.Join(got, ",") != "e11,e10,e08,e07,e05,e04,e02,e01" {
		t.Fatalf("paged = %v", got)
	}
	p, _ := svc.QueryAudit(ctx, adminPerson, admin.AuditFilter{Actor: "client:robot", Since: base.Add(3 * time.Second), Until: base.Add(9 * time.Second)}, "", 0)
	if len(p.Events) != 2 || p.Events[0].ID != "e06" || p.Events[0].Reason != "ticket" {
		t.Fatalf("by actor and range = %+v", p.Events)
	}

	var buf bytes.Buffer
	n, err := svc.ExportAudit(ctx, adminPerson, admin.AuditFilter{Target: "user:" + u1}, &buf)
	if err != nil || n != 4 {
		t.Fatalf("export = %d, %v", n, err)
	}
	sc := bufio.NewScanner(&buf)
	lines := 0
	for sc.Scan() {
		var e admin.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Target != "user:"+u1 {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 4 {
		t.Fatalf("%d lines", lines)
	}
	if ev := events(t, st, storage.AuditQuery{Type: "admin.audit.export"}); len(ev) != 1 || ev[0].Actor != "user:staff-admin" ||
		ev[0].Detail != `{"target":"user:`+u1+`"}` {
		t.Fatalf("export not audited: %+v", ev)
	}
}

func TestPersonActor(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()
	u := addUser(t, st, "staff@example.com", storage.UserActive)
	strong := []string{"pwd", "otp", "mfa"}
	a, err := svc.PersonActor(ctx, u.ID, "console", admin.AllScopes, strong, "192.0.2.1", "ua")
	if err != nil || a.Can(admin.ReadUsers) || a.NeedsSecondFactor() {
		t.Fatalf("person without roles: %+v, %v", a, err)
	}
	if err := st.GrantRole(ctx, u.ID, storage.RoleSupport, time.Now()); err != nil {
		t.Fatal(err)
	}
	a, _ = svc.PersonActor(ctx, u.ID, "console", admin.AllScopes, strong, "192.0.2.1", "ua")
	if !a.Can(admin.SupportUsers) || a.Can(admin.ReadClients) || a.ID() != "user:"+u.ID || a.NeedsSecondFactor() {
		t.Fatalf("support person: %+v", a)
	}
	// A sign-in with the password alone, or a passkey without user verification (one
	// factor), gives the roles nothing, and says a second factor would.
	for _, amr := range [][]string{{"pwd"}, {"swk"}, nil} {
		a, err = svc.PersonActor(ctx, u.ID, "console", admin.AllScopes, amr, "192.0.2.1", "ua")
		if err != nil || a.Can(admin.ReadUsers) || len(a.Effective()) != 0 || !a.NeedsSecondFactor() {
			t.Fatalf("support person signed in with %v: %+v, %v", amr, a, err)
		}
		if _, err := svc.GetUser(ctx, a, u.ID); !errors.Is(err, admin.ErrForbidden) {
			t.Fatalf("support person signed in with %v read a person: %v", amr, err)
		}
	}
	if _, err := st.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Status = storage.UserLocked; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PersonActor(ctx, u.ID, "console", admin.AllScopes, strong, "", ""); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("locked person: %v", err)
	}
	if _, err := svc.PersonActor(ctx, "nobody", "console", admin.AllScopes, strong, "", ""); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("unknown person: %v", err)
	}
}
