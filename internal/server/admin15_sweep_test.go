package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// The admin API and the console, swept: every operation, every store call it makes failing
// once. The answer is our failure (the API's 503 problem with Retry-After, the console's 503
// page) or the answer without the failure; a 503 leaves nothing written (no audit event, no
// mail, no client, no key), and the same request sent again once the store is well succeeds
// with its effect once. A route without a scenario fails the test, so a new operation is
// swept from the day it is added.

// sweepStep is one request of a scenario, made again as it was.
type sweepStep func() answer

// adminScenario is one operation in one state.
type adminScenario struct {
	route string // "METHOD /path/template", as Routes lists it
	name  string // what it does (a route may have several)
	// prep runs while nothing fails: it makes a fresh target and returns the request.
	prep func(t *testing.T) sweepStep
	// stable: a repeat of the request answers the same body (reads that write nothing).
	stable bool
	// shows is text every answer that is not our failure has (what a failure must not
	// quietly leave out).
	shows string
}

// effects counts the rows an admin operation may add: what a 503 must not have written and a
// retry must write once. Read from the database file, past the fault injection.
type effects map[string]int

var effectTables = []string{"audit_events", "outbox", "clients", "users", "signing_keys", "one_time_tokens", "mfa_credentials"}

func snapshotEffects(t *testing.T, e *testEnv) func() effects {
	t.Helper()
	open := sqlite.Open
	if e.cfg.DatabaseDriver() == config.DriverPostgres {
		open = postgres.Open
	}
	db, err := open(context.Background(), e.cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return func() effects {
		out := effects{}
		for _, tb := range effectTables {
			var n int
			if err := db.SQLX().GetContext(context.Background(), &n, "SELECT count(*) FROM "+tb); err != nil {
				t.Fatal(err)
			}
			out[tb] = n
		}
		return out
	}
}

func (a effects) minus(b effects) effects {
	out := effects{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (a effects) String() string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s%+d", k, a[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func sameEffects(a, b effects) bool { return a.String() == b.String() }

// pageNoise is what differs between two renders of one console page: nonces, the CSRF token,
// the forms' idempotency key, the support reference.
var pageNoise = regexp.MustCompile(`nonce="[^"]*"|name="(csrf_token|key)" value="[^"]*"|<code>[0-9a-f]{16,}</code>`)

// sweep runs the scenarios and fails for every route of routes without one.
func sweep(t *testing.T, e *testEnv, fs *faultstore.Store, routes []string, scenarios []adminScenario,
	isOurs func(got answer) string, normalise func(answer) string) {
	t.Helper()
	var covered []string
	for _, sc := range scenarios {
		covered = append(covered, sc.route)
	}
	sweepCovers(t, "sweep", routes, covered, nil)
	snap := snapshotEffects(t, e)
	for _, sc := range scenarios {
		t.Run(sc.route+" "+sc.name, func(t *testing.T) {
			req := sc.prep(t)
			before := snap()
			fs.ResetCalls()
			normal := req()
			methods := fs.Calls()
			want := snap().minus(before)
			if normal.status >= 400 {
				t.Fatalf("fails without any failure: %d %.400s", normal.status, normal.body)
			}
			type tryCase struct {
				req    sweepStep
				before effects
			}
			eachCallFailing(fs, methods, func() tryCase {
				r := sc.prep(t)
				return tryCase{r, snap()}
			}, func(c tryCase) answer { return c.req() }, func(what string, c tryCase, got answer) {
				got.body, _ = withoutRandom(got)
				for _, l := range leaks {
					if strings.Contains(strings.ToLower(got.body), l) {
						t.Errorf("%s: the answer leaks %q: %.300s", what, l, got.body)
					}
				}
				did := snap().minus(c.before)
				if got.status >= 500 || got.status != normal.status {
					if why := isOurs(got); why != "" {
						t.Errorf("%s: %s (without the failure: %d)", what, why, normal.status)
						return
					}
					if len(did) != 0 {
						t.Errorf("%s: the 503 wrote %v", what, did)
					}
					retry := c.req()
					if retry.status != normal.status {
						t.Errorf("%s: sent again once the store is well: %d, want %d: %.300s", what, retry.status, normal.status, retry.body)
					}
					if all := snap().minus(c.before); !sameEffects(all, want) {
						t.Errorf("%s: the 503 and its retry wrote %v, one request writes %v", what, all, want)
					}
					return
				}
				if !sameEffects(did, want) {
					t.Errorf("%s: answered %d as without the failure, but wrote %v, not %v", what, got.status, did, want)
				}
				if !strings.Contains(got.body, sc.shows) {
					t.Errorf("%s: answered %d as without the failure, but without %q", what, got.status, sc.shows)
				}
				if sc.stable && normalise(got) != normalise(normal) {
					t.Errorf("%s: answered %d as without the failure, but not the same:\n%.2000s\nwithout the failure:\n%.2000s",
						what, got.status, normalise(got), normalise(normal))
				}
				if l, nl := got.header.Get("Location"), normal.header.Get("Location"); sc.stable && l != nl {
					t.Errorf("%s: redirected to %q, without the failure to %q", what, l, nl)
				}
			})
		})
	}
}

// apiFailure is "" for the admin API's answer to a failure of ours, else what is wrong.
func apiFailure(got answer) string {
	if got.status != http.StatusServiceUnavailable {
		return fmt.Sprintf("status %d, want 503 or the answer without the failure: %.300s", got.status, got.body)
	}
	if got.header.Get("Retry-After") == "" {
		return "503 without Retry-After"
	}
	var p admin.ProblemDoc
	if got.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(got.body), &p) != nil ||
		p.Status != 503 || p.Detail != "The service is temporarily unavailable. Please retry shortly." {
		return fmt.Sprintf("503 not in the API's problem format: %s %.300s", got.header.Get("Content-Type"), got.body)
	}
	return ""
}

// consoleFailure is "" for the console's 503 page, else what is wrong.
func consoleFailure(got answer) string {
	if got.status != http.StatusServiceUnavailable {
		return fmt.Sprintf("status %d (Location %q), want the 503 page or the answer without the failure: %.300s",
			got.status, got.header.Get("Location"), got.body)
	}
	if got.header.Get("Retry-After") == "" || !strings.Contains(got.body, "Temporarily unavailable") {
		return fmt.Sprintf("503 without Retry-After or not the 'try again' page: %.300s", got.body)
	}
	return ""
}

// adminRoutes lists "METHOD path" of every route under prefix the server serves, with
// methods (HEAD is GET's).
func adminRoutes(e *testEnv, keep func(path string) bool, methods ...string) []string {
	var out []string
	for _, rt := range e.srv.Routes() {
		if !keep(rt.Path) {
			continue
		}
		for _, m := range rt.Methods {
			if slices.Contains(methods, m) {
				out = append(out, m+" "+rt.Path)
			}
		}
	}
	return out
}

var sweepSeq atomic.Int64

func sweepEmail(what string) string {
	return fmt.Sprintf("%s-%d@example.com", what, sweepSeq.Add(1))
}

// sweepUser adds an account in a state: "active", "pending", "locked" (by an operator and
// locked out after wrong passwords), "factors" (two authenticator apps and recovery codes).
func sweepUser(t *testing.T, e *testEnv, state string) *storage.User {
	t.Helper()
	ctx := context.Background()
	u := e.addUser(sweepEmail(state))
	now := e.clock.Now().UTC()
	var err error
	switch state {
	case "pending":
		u, err = e.store.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Status, x.ActivatedAt = storage.UserPending, nil; return nil })
	case "locked":
		until := now.Add(time.Hour)
		u, err = e.store.UpdateUser(ctx, u.ID, func(x *storage.User) error {
			x.Status, x.LockedUntil, x.LockoutCount = storage.UserLocked, &until, 1
			return nil
		})
	case "factors":
		for _, id := range []string{"a", "b"} {
			if err := e.store.CreateMFACredential(ctx, &storage.MFACredential{ID: id + u.ID, UserID: u.ID, Kind: storage.MFATOTP,
				Name: "phone " + id, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		err = e.store.ReplaceRecoveryCodes(ctx, u.ID, []string{"h1", "h2"})
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEveryAdminStoreFailureIsOurs sweeps the admin API and the console (see sweep).
func TestEveryAdminStoreFailureIsOurs(t *testing.T) {
	t.Parallel()
	t.Run("api", func(t *testing.T) {
		t.Parallel()
		sweepAdminAPI(t)
	})
	t.Run("console", func(t *testing.T) {
		t.Parallel()
		sweepConsole(t)
	})
	t.Run("api on PostgreSQL", func(t *testing.T) {
		t.Parallel()
		sweepAdminAPI(t, postgresVars(t))
	})
	t.Run("console on PostgreSQL", func(t *testing.T) {
		t.Parallel()
		sweepConsole(t, postgresVars(t))
	})
}

// sweepEnv is faultEnv, on the database env names if any.
func sweepEnv(t *testing.T, env ...map[string]string) (*testEnv, *faultstore.Store) {
	var fs *faultstore.Store
	o := envOptions{wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}}
	if len(env) > 0 {
		o.env = env[0]
	}
	return newEnvWith(t, o), fs
}

// sweepAdminAPI sweeps the admin API on SQLite, or on the database env names.
func sweepAdminAPI(t *testing.T, env ...map[string]string) {
	e, fs := sweepEnv(t, env...)
	e.clock.Advance(0)
	robot, _ := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	// The API allows 600 requests a minute from one address: the sweep makes more, so its
	// clock moves on a minute (with a fresh token) every 250 requests. (Counted since the last
	// move, not at multiples of 250: the person's-token scenario counts its requests past
	// call, and could step over a multiple.)
	var tok string
	sent, moved := 0, 0
	call := func(method, path string, body any, headers ...string) answer {
		if tok == "" || sent-moved >= 250 {
			e.clock.Advance(61 * time.Second)
			tok = e.scopedToken(t, robot, admin.ScopeWrite, admin.ScopeRead)
			moved = sent
		}
		sent++
		a := e.call(t, method, path, tok, body, headers...)
		return answer{a.status, a.header, a.body}
	}
	etagOf := func(path string) string {
		a := call("GET", path, nil)
		if a.status != 200 || a.header.Get("ETag") == "" {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
		return a.header.Get("ETag")
	}
	newClient := func(t *testing.T) *testClient {
		return e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	}
	reason := map[string]string{"reason": "the sweep"}
	spec := map[string]any{"name": "Sweep portal", "type": "confidential", "redirect_uris": []string{"https://portal.example/cb"}}
	reader := sweepUser(t, e, "locked")
	if _, err := e.store.UpdateUser(context.Background(), reader.ID, func(x *storage.User) error { x.PreferredMFA = storage.MFATOTP; return nil }); err != nil {
		t.Fatal(err)
	}
	shown := newClient(t)
	staff := sweepUser(t, e, "active")
	if err := e.store.GrantRole(context.Background(), staff.ID, storage.RoleSupport, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	user := func(state string, do func(u *storage.User) sweepStep) func(t *testing.T) sweepStep {
		return func(t *testing.T) sweepStep { return do(sweepUser(t, e, state)) }
	}
	p := adminAPI
	scenarios := []adminScenario{
		{route: "GET " + p + "/openapi.yaml", name: "the document", stable: true, prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/openapi.yaml", nil) }
		}},
		{route: "GET " + p + "/clients", name: "list", stable: true, prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/clients?limit=200", nil) }
		}},
		{route: "POST " + p + "/clients", name: "create", prep: func(t *testing.T) sweepStep {
			return func() answer { return call("POST", "/clients", spec) }
		}},
		{route: "POST " + p + "/clients", name: "create with an Idempotency-Key", prep: func(t *testing.T) sweepStep {
			key := sweepEmail("key")
			return func() answer { return call("POST", "/clients", spec, "Idempotency-Key", key) }
		}},
		{route: "GET " + p + "/clients/{id}", name: "show", stable: true, prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/clients/"+shown.ID, nil) }
		}},
		{route: "PATCH " + p + "/clients/{id}", name: "update with If-Match", prep: func(t *testing.T) sweepStep {
			c := newClient(t)
			tag := etagOf("/clients/" + c.ID)
			return func() answer {
				return call("PATCH", "/clients/"+c.ID, map[string]any{"name": "Renamed"}, "If-Match", tag)
			}
		}},
		{route: "DELETE " + p + "/clients/{id}", name: "delete with If-Match", prep: func(t *testing.T) sweepStep {
			c := newClient(t)
			tag := etagOf("/clients/" + c.ID)
			return func() answer { return call("DELETE", "/clients/"+c.ID, nil, "If-Match", tag) }
		}},
		{route: "POST " + p + "/clients/{id}/rotate-secret", name: "rotate", prep: func(t *testing.T) sweepStep {
			c := newClient(t)
			return func() answer { return call("POST", "/clients/"+c.ID+"/rotate-secret", nil) }
		}},
		{route: "GET " + p + "/users", name: "search", stable: true, prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/users?email_prefix=locked&limit=5", nil) }
		}},
		{route: "GET " + p + "/users/{id}", name: "show a locked account with factors", stable: true, prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/users/"+reader.ID, nil) }
		}},
		{route: "GET " + p + "/users/{id}", name: "by a person's token (their roles read)", stable: true, prep: func(t *testing.T) sweepStep {
			person := e.personToken(t, staff.Email)
			return func() answer {
				sent++ // its own token: the per-address limit counts it all the same
				a := e.call(t, "GET", "/users/"+reader.ID, person, nil)
				return answer{a.status, a.header, a.body}
			}
		}},
		{route: "DELETE " + p + "/users/{id}", name: "delete with If-Match", prep: user("factors", func(u *storage.User) sweepStep {
			tag := etagOf("/users/" + u.ID)
			return func() answer { return call("DELETE", "/users/"+u.ID, reason, "If-Match", tag) }
		})},
		{route: "POST " + p + "/users/{id}/lock", name: "lock with If-Match", prep: user("active", func(u *storage.User) sweepStep {
			tag := etagOf("/users/" + u.ID)
			return func() answer { return call("POST", "/users/"+u.ID+"/lock", reason, "If-Match", tag) }
		})},
		{route: "POST " + p + "/users/{id}/unlock", name: "unlock a locked, locked-out account with If-Match", prep: user("locked", func(u *storage.User) sweepStep {
			tag := etagOf("/users/" + u.ID)
			return func() answer { return call("POST", "/users/"+u.ID+"/unlock", reason, "If-Match", tag) }
		})},
		{route: "POST " + p + "/users/{id}/resend-activation", name: "pending account", prep: user("pending", func(u *storage.User) sweepStep {
			return func() answer { return call("POST", "/users/"+u.ID+"/resend-activation", reason) }
		})},
		{route: "POST " + p + "/users/{id}/send-reset", name: "active account", prep: user("active", func(u *storage.User) sweepStep {
			return func() answer { return call("POST", "/users/"+u.ID+"/send-reset", reason) }
		})},
		{route: "POST " + p + "/users/{id}/remove-factors", name: "all", prep: user("factors", func(u *storage.User) sweepStep {
			return func() answer { return call("POST", "/users/"+u.ID+"/remove-factors", reason) }
		})},
		{route: "POST " + p + "/users/{id}/send-reset", name: "with an Idempotency-Key", prep: user("active", func(u *storage.User) sweepStep {
			return func() answer { return call("POST", "/users/"+u.ID+"/send-reset", reason, "Idempotency-Key", "k-"+u.ID) }
		})},
		{route: "POST " + p + "/users/{id}/lock", name: "with If-Match and an Idempotency-Key", prep: user("active", func(u *storage.User) sweepStep {
			tag := etagOf("/users/" + u.ID)
			return func() answer {
				return call("POST", "/users/"+u.ID+"/lock", reason, "If-Match", tag, "Idempotency-Key", "k-"+u.ID)
			}
		})},
		{route: "POST " + p + "/users/{id}/remove-factors", name: "with an Idempotency-Key", prep: user("factors", func(u *storage.User) sweepStep {
			return func() answer {
				return call("POST", "/users/"+u.ID+"/remove-factors", reason, "Idempotency-Key", "k-"+u.ID)
			}
		})},
		{route: "POST " + p + "/users/{id}/sign-out-everywhere", name: "active account", prep: user("active", func(u *storage.User) sweepStep {
			return func() answer { return call("POST", "/users/"+u.ID+"/sign-out-everywhere", reason) }
		})},
		{route: "GET " + p + "/audit-events", name: "of one account", stable: true, prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/audit-events?target=user:"+reader.ID, nil) }
		}},
		{route: "GET " + p + "/audit-events/export", name: "of one account", prep: func(t *testing.T) sweepStep {
			return func() answer { return call("GET", "/audit-events/export?target=user:"+reader.ID, nil) }
		}},
	}
	// The reader's lock has its reason in the log, as an operator's lock has.
	if err := e.store.AddAuditEvent(context.Background(), &storage.AuditEvent{Type: "admin.user.lock", Actor: "cli", Target: "user:" + reader.ID,
		Reason: "fraud", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	routes := adminRoutes(e, func(path string) bool { return strings.HasPrefix(path, p+"/") }, "GET", "POST", "PUT", "PATCH", "DELETE")
	sweep(t, e, fs, routes, scenarios, apiFailure, func(a answer) string { return a.body })
}

// sweepConsole sweeps the console on SQLite, or on the database env names.
func sweepConsole(t *testing.T, env ...map[string]string) {
	e, fs := sweepEnv(t, env...)
	e.clock.Advance(0)
	b, _, _ := e.consoleStaff("staff@example.com", storage.RoleAdmin)
	// The console's own answers, not the pages its redirects lead to.
	raw := &http.Client{Jar: b.c.Jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) answer {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, e.issuer+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		bs, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, string(bs)}
	}
	get := func(path string) sweepStep { return func() answer { return do("GET", path, nil) } }
	// form is the form posting to action on the page at path, filled in with fields.
	form := func(t *testing.T, path, action string, fields ...string) url.Values {
		t.Helper()
		p := b.get(e.issuer + path)
		f := formAt(t, p, action)
		for i := 0; i+1 < len(fields); i += 2 {
			f.Set(fields[i], fields[i+1])
		}
		return f
	}
	post := func(path string, f url.Values) sweepStep { return func() answer { return do("POST", path, f) } }
	reader := sweepUser(t, e, "locked")
	if err := e.store.AddAuditEvent(context.Background(), &storage.AuditEvent{Type: "admin.user.lock", Actor: "user:" + reader.ID, Target: "user:" + reader.ID,
		Reason: "fraud", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	shown := e.addClient(storage.ClientConfidential)
	action := func(state, act string) func(t *testing.T) sweepStep {
		return func(t *testing.T) sweepStep {
			u := sweepUser(t, e, state)
			path := "/admin/users/" + u.ID + "/" + act
			return post(path, form(t, "/admin/users/"+u.ID, path, "reason", "the sweep"))
		}
	}
	actions := map[string]string{"unlock": "locked", "lock": "active", "resend-activation": "pending", "send-reset": "active",
		"remove-factors": "factors", "sign-out": "active", "delete": "factors"}
	scenarios := []adminScenario{
		{route: "GET /admin", name: "home", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin") }},
		{route: "GET /admin/users", name: "search", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin/users?email=locked") }},
		{route: "GET /admin/users/{id}", name: "a locked account", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin/users/" + reader.ID) }},
		{route: "GET /admin/clients", name: "list", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin/clients") }},
		{route: "GET /admin/clients/{id}", name: "show", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin/clients/" + shown.ID) }},
		{route: "GET /admin/audit", name: "of one account", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin/audit?target=user:" + reader.ID) }},
		{route: "GET /admin/keys", name: "list", stable: true, prep: func(t *testing.T) sweepStep { return get("/admin/keys") }},
		{route: "POST /admin/verify", name: "a session with its second factor", stable: true, prep: func(t *testing.T) sweepStep {
			return post("/admin/verify", url.Values{"csrf_token": {form(t, "/admin/keys", "/admin/keys/rotate").Get("csrf_token")}})
		}},
		{route: "POST /admin/clients", name: "create", prep: func(t *testing.T) sweepStep {
			return post("/admin/clients", form(t, "/admin/clients", "/admin/clients", "name", "Sweep portal", "type", "confidential",
				"redirect_uris", "https://portal.example/cb"))
		}},
		{route: "POST /admin/clients/{id}", name: "update", prep: func(t *testing.T) sweepStep {
			c := e.addClient(storage.ClientConfidential)
			return post("/admin/clients/"+c.ID, form(t, "/admin/clients/"+c.ID, "/admin/clients/"+c.ID, "name", "Renamed",
				"redirect_uris", c.Redirect))
		}},
		{route: "POST /admin/clients/{id}/rotate", name: "rotate", shows: "Test App ", prep: func(t *testing.T) sweepStep {
			c := e.addClient(storage.ClientConfidential)
			return post("/admin/clients/"+c.ID+"/rotate", form(t, "/admin/clients/"+c.ID, "/admin/clients/"+c.ID+"/rotate"))
		}},
		{route: "POST /admin/keys/rotate", name: "rotate", prep: func(t *testing.T) sweepStep {
			return post("/admin/keys/rotate", form(t, "/admin/keys", "/admin/keys/rotate", "reason", "the sweep"))
		}},
	}
	for act, state := range actions {
		scenarios = append(scenarios, adminScenario{route: "POST /admin/users/{id}/{action}", name: act, prep: action(state, act)})
	}
	sort.Slice(scenarios, func(i, j int) bool {
		return scenarios[i].route+scenarios[i].name < scenarios[j].route+scenarios[j].name
	})
	// Every action a person's page offers has its scenario.
	for _, state := range []string{"locked", "pending", "factors"} {
		u := sweepUser(t, e, state)
		for _, m := range regexp.MustCompile(`action="/admin/users/`+u.ID+`/([a-z-]+)"`).FindAllStringSubmatch(b.get(e.issuer+"/admin/users/"+u.ID).body, -1) {
			if _, ok := actions[m[1]]; !ok {
				t.Errorf("the console's action %q has no scenario in the sweep", m[1])
			}
		}
	}
	routes := adminRoutes(e, func(path string) bool {
		return (path == "/admin" || strings.HasPrefix(path, "/admin/")) && !strings.HasPrefix(path, adminAPI+"/")
	}, "GET", "POST")
	sweep(t, e, fs, routes, scenarios, consoleFailure, func(a answer) string {
		body := pageNoise.ReplaceAllString(a.body, "")
		if id := a.header.Get("X-Request-Id"); id != "" {
			body = strings.ReplaceAll(body, id, "")
		}
		return body
	})
}
