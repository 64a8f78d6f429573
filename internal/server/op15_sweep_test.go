package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// sweepScenario is one request a client makes to a protocol route, made again with each of
// its store calls failing once in turn.
type sweepScenario struct {
	name string
	// routes are the Routes() paths the request covers.
	routes []string
	// build readies the scenario's server (clients, people) once and returns prep, which
	// readies one fresh request (a new code, token, proof, ...) without failures and returns
	// the function that sends it. Sent twice, the request must be answered alike: prep is
	// called for each failure, the same request is sent again once the failure is cleared.
	build func(t *testing.T, e *testEnv) (prep func() func() answer)
	// want is the status of the answer without failures.
	want int
	// env, when set, makes the scenario's server instead of a plain faultEnv.
	env func(t *testing.T) (*testEnv, *faultstore.Store)
	// normal, when set, checks the answer without failures further.
	normal func(t *testing.T, a answer)
	// check, when set, replaces checkFailureAnswer (for a route that is not a client's).
	check func(t *testing.T, what string, normal, got answer)
}

// lostAnswers are the scenario/method pairs whose write, committed with its answer lost
// (the connection dropped after COMMIT), still leaves the request's retry refused. Our 503
// is answered, but the retry is told it is at fault; each says why it is left. A pair that
// no longer fails must be taken out.
var lostAnswers = map[string]string{
	"code exchange/InTx": "the code was used and the tokens issued: its retry is a replay (invalid_grant, the grant revoked), " +
		"which RFC 6749 §4.1.2 requires (a code used more than once MUST be denied); no retry grace as refresh tokens have",
	"code exchange with the phone scope/InTx":    "as code exchange/InTx",
	"code exchange with the licences scope/InTx": "as code exchange/InTx",
	"dynamic registration/InTx": "the client was created and the initial access token's use counted: the retry is 401 " +
		"invalid_token; RFC 7591 has no idempotency key to tell a retry from a second registration",
	"registration delete/InTx": "the client was deleted: the retry is 401 invalid_token, as RFC 7592 §2.3 answers for a deleted client",
}

// noStoreCall are the protocol routes whose answers make no store call, so a failing store
// cannot change them; each says why.
var noStoreCall = map[string]string{
	"/healthz":                          "liveness: the process serves; it reads nothing (TestStalledDatabaseAnswers503Fast)",
	"/.well-known/openid-configuration": "built from the configuration at start",
	"/keys":                             "the published keys are held in memory; a reload that fails keeps them (TestKeyReloadFailure*)",
}

// protocolRoutes are the routes of Routes() a client (not a person's browser page, not the
// admin API or console) calls: every route the guard's uiRoutes do not name, outside the
// admin prefix.
func protocolRoutes(rs []string) []string {
	var out []string
	for _, p := range rs {
		if slices.Contains(uiRoutes, p) || p == admin.Prefix || strings.HasPrefix(p, admin.Prefix+"/") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// TestStoreFailureSweepCoversEveryProtocolRoute: a route added to the server without a
// scenario in storeFailureSweep (or, when it reads nothing, in noStoreCall) fails here.
func TestStoreFailureSweepCoversEveryProtocolRoute(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: allProtocolRoutes})
	var paths []string
	for _, rt := range e.srv.Routes() {
		paths = append(paths, rt.Path)
	}
	var covered []string
	for _, sc := range storeFailureSweep() {
		covered = append(covered, sc.routes...)
	}
	proto := protocolRoutes(paths)
	if len(proto) < 10 {
		t.Fatalf("only %d protocol routes found: %v", len(proto), proto)
	}
	sweepCovers(t, "storeFailureSweep", proto, covered, noStoreCall)
}

// allProtocolRoutes turns on the optional protocol routes (dynamic registration).
func allProtocolRoutes(c *config.Config) { c.Registration.Enabled = true }

// TestEveryProtocolStoreFailureIsOurs fails, once each, every store call of every scenario
// of storeFailureSweep. The answer must be the normal one or our fixed 5xx, never a client
// error, and the same request sent again once the store recovers must succeed: nothing
// single-use (a code, a refresh token, a device code, a pushed request, a DPoP proof's or a
// client assertion's jti, an initial access token's use) was burned by our failure.
func TestEveryProtocolStoreFailureIsOurs(t *testing.T) {
	t.Parallel()
	sweepProtocol(t, false)
}

// TestEveryProtocolStoreFailureIsOursPostgres is the sweep on PostgreSQL, whose transactions
// end at their first error and whose statements differ (ON CONFLICT, RETURNING): what a
// failure leaves behind must be as usable there. The licence scenarios, whose server is
// built for them, run on SQLite only.
func TestEveryProtocolStoreFailureIsOursPostgres(t *testing.T) {
	t.Parallel()
	sweepProtocol(t, true)
}

// sweepProtocol runs storeFailureSweep on SQLite, or on PostgreSQL.
func sweepProtocol(t *testing.T, postgres bool) {
	for _, sc := range storeFailureSweep() {
		if postgres && sc.env != nil {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var e *testEnv
			var fs *faultstore.Store
			switch {
			case postgres:
				o := envOptions{configure: allProtocolRoutes, wrapStore: func(s storage.Store) storage.Store {
					fs = faultstore.New(s)
					return fs
				}, env: map[string]string{"MYACCOUNT_DATABASE_URL": pgtest.MigratedURL(t), "MYACCOUNT_MASTER_KEY": keys.NewMasterKey()}}
				e = newEnvWith(t, o)
			case sc.env != nil:
				e, fs = sc.env(t)
			default:
				e, fs = faultEnv(t, allProtocolRoutes)
			}
			prep := sc.build(t, e)
			req := prep()
			fs.ResetCalls()
			normal := req()
			methods := fs.Calls()
			if normal.status != sc.want {
				t.Fatalf("without failures: %d, want %d: %.400s", normal.status, sc.want, normal.body)
			}
			noStore := sc.routes[0] == "/oauth/token" || sc.routes[0] == "/device_authorization" || sc.routes[0] == "/par" ||
				strings.HasPrefix(sc.routes[0], "/connect/register")
			checkNoStore(t, "without failures", noStore, normal)
			if sc.normal != nil {
				sc.normal(t, normal)
			}
			for _, r := range sc.routes {
				if _, none := noStoreCall[r]; none != (len(methods) == 0) {
					t.Fatalf("%s made %d store calls %v, but noStoreCall says %q", r, len(methods), methods, noStoreCall[r])
				}
			}
			check := checkFailureAnswer
			if sc.check != nil {
				check = sc.check
			}
			judge := func(what string, req func() answer, got answer) {
				check(t, what, normal, withoutOwnURL(got))
				checkNoStore(t, what, noStore, got)
				if got.status < 500 {
					checkSameAnswer(t, what, normal, got)
				}
				if got.status == sc.want {
					return // answered as without the failure: a single-use request is now used
				}
				again := req()
				if again.status != sc.want {
					t.Errorf("%s, then sent again: %d, want %d (something was used up by our failure): %.300s", what, again.status, sc.want, again.body)
					return
				}
				checkSameAnswer(t, what+", then sent again", normal, again)
			}
			// Each call failing once, then every call of each method at once (a store that
			// stays down for the whole request).
			eachCallFailing(fs, methods, prep, func(req func() answer) answer { return req() }, judge)
			for _, m := range methods {
				req := prep()
				fs.Add(faultstore.Rule{Method: m, Err: faultstore.ErrInjected})
				got := req()
				fs.Clear()
				judge("every call of "+m+" failing", req, got)
			}
			// The first call of each method done (committed, outside a transaction) but
			// answered as failed: the answer lost after the write.
			for _, m := range methods {
				req := prep()
				fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected, AfterCall: true})
				got := req()
				fs.Clear()
				what := "the first call of " + m + " done but answered as failed"
				if _, known := lostAnswers[sc.name+"/"+m]; known {
					check(t, what, normal, withoutOwnURL(got))
					if again := req(); got.status != sc.want && again.status == sc.want {
						t.Errorf("%s: sent again, it now succeeds: take %q out of lostAnswers", what, sc.name+"/"+m)
					}
					continue
				}
				judge(what, req, got)
			}
		})
	}
}

// backRE is a page's language links' back=…, which repeat the request's own URL.
var backRE = regexp.MustCompile(`back=[^"&]*`)

// withoutOwnURL is a without what repeats the request's own URL (on a page, the language
// links): the client's own input, whose random tokens may spell what the leak check looks
// for.
func withoutOwnURL(a answer) answer {
	a.body = backRE.ReplaceAllString(a.body, "back=")
	return a
}

// checkNoStore: answers of the token, device authorization, PAR and registration endpoints
// carry credentials or say why not; none may be cached (RFC 6749 §5.1, RFC 7591 §3.2.1).
func checkNoStore(t *testing.T, what string, want bool, a answer) {
	t.Helper()
	if cc := a.header.Get("Cache-Control"); want && !strings.Contains(cc, "no-store") {
		t.Errorf("%s: answered %d with Cache-Control %q, want no-store", what, a.status, cc)
	}
}

// checkSameAnswer: an answer with the normal status is the normal answer: a JSON body has
// the same members (an introspection's active, userinfo's phone_number or licences are not
// dropped for our failure), a redirect goes to the same place with a code or without.
func checkSameAnswer(t *testing.T, what string, normal, got answer) {
	t.Helper()
	if got.status != normal.status {
		return
	}
	var nm, gm map[string]any
	if json.Unmarshal([]byte(normal.body), &nm) == nil && json.Unmarshal([]byte(got.body), &gm) == nil {
		if nk, gk := keysOf(nm), keysOf(gm); !slices.Equal(nk, gk) {
			t.Errorf("%s: answered with members %v, want %v as without the failure: %.300s", what, gk, nk, got.body)
		}
		if nm["active"] != gm["active"] {
			t.Errorf("%s: active = %v, want %v", what, gm["active"], nm["active"])
		}
	}
	nl, gl := normal.header.Get("Location"), got.header.Get("Location")
	nu, _ := url.Parse(nl)
	gu, _ := url.Parse(gl)
	if (nl == "" && gl == "") || (gu != nil && gu.Query().Get("error") == "temporarily_unavailable") {
		return // checkFailureAnswer has read an error redirect
	}
	if nu == nil || gu == nil || nu.Path != gu.Path || nu.Host != gu.Host ||
		(nu.Query().Get("code") == "") != (gu.Query().Get("code") == "") {
		t.Errorf("%s: redirected to %s, want %s as without the failure", what, gl, nl)
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sweepClient sends requests the way a client does: redirects are not followed, cookies of
// a browser are sent when one is given.
func sweepSend(t *testing.T, b *browser, req *http.Request) answer {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if b != nil {
		c.Jar = b.c.Jar
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// sweepForm is a form POST with optional Basic credentials and headers (k, v pairs).
func sweepForm(t *testing.T, e *testEnv, path string, form url.Values, user, pass string, hdr ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.addr+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return sweepSend(t, nil, req)
}

// sweepGet is a GET with optional headers (k, v pairs), in browser b when given.
func sweepGet(t *testing.T, e *testEnv, b *browser, u string, hdr ...string) answer {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.addr + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return sweepSend(t, b, req)
}

// sweepJSON sends a registration request (RFC 7591/7592) with a Bearer token.
func sweepJSON(t *testing.T, e *testEnv, method, u, token string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return sweepSend(t, nil, req)
}

// once makes prep's request function from a function of no state.
func once(f func() answer) func() func() answer { return func() func() answer { return f } }

// storeFailureSweep is every request of the protocol routes the sweep makes.
func storeFailureSweep() []sweepScenario {
	ctx := context.Background()
	const ada = "ada@example.com"
	// codeClient is a confidential first-party client of every grant the sweep uses.
	codeClient := func(e *testEnv, opts ...clientOpt) *testClient {
		e.addUser(ada)
		return e.addClient(storage.ClientConfidential, append([]clientOpt{firstParty,
			withGrants("authorization_code", "refresh_token", "client_credentials", grantDevice)}, opts...)...)
	}
	token := func(t *testing.T, e *testEnv, c *testClient, form url.Values) func() answer {
		return func() answer { return sweepForm(t, e, "/oauth/token", form, c.ID, c.Secret) }
	}
	introspect := func(t *testing.T, e *testEnv, c *testClient, tok string) func() func() answer {
		return once(func() answer { return sweepForm(t, e, "/oauth/introspect", url.Values{"token": {tok}}, c.ID, c.Secret) })
	}
	return []sweepScenario{
		{name: "discovery", routes: []string{"/.well-known/openid-configuration"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return once(func() answer { return sweepGet(t, e, nil, "/.well-known/openid-configuration") })
			}},
		{name: "jwks", routes: []string{"/keys"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return once(func() answer { return sweepGet(t, e, nil, "/keys") })
			}},
		{name: "liveness", routes: []string{"/healthz"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return once(func() answer { return sweepGet(t, e, nil, "/healthz") })
			}},
		{name: "readiness", routes: []string{"/readyz", "/ready"}, want: 200, check: checkProbe,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return once(func() answer { return sweepGet(t, e, nil, "/readyz") })
			}},
		{name: "authorize", routes: []string{"/authorize"}, want: http.StatusFound,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				_, challenge := pkce()
				u := e.oauth2Config(c).AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", challenge),
					oauth2.SetAuthURLParam("code_challenge_method", "S256"))
				return func() func() answer {
					b := e.browser()
					return func() answer { return sweepGet(t, e, b, u) }
				}
			}},
		{name: "authorize with a pushed request", routes: []string{"/authorize", "/par"}, want: http.StatusFound,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return func() func() answer {
					b, u := pushedAuthorize(t, e, c)
					return func() answer { return sweepGet(t, e, b, u) }
				}
			}},
		{name: "authorize with a pushed request, reloaded", routes: []string{"/authorize"}, want: http.StatusFound,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return func() func() answer {
					b, u := pushedAuthorize(t, e, c)
					if a := sweepGet(t, e, b, u); a.status != http.StatusFound {
						t.Fatalf("first load: %d %s", a.status, a.body)
					}
					return func() answer { return sweepGet(t, e, b, u) }
				}
			}},
		{name: "push", routes: []string{"/par"}, want: http.StatusCreated,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return func() func() answer {
					form, _, _ := parForm(c)
					return func() answer { return sweepForm(t, e, "/par", form, c.ID, c.Secret) }
				}
			}},
		{name: "authorization callback", routes: []string{"/authorize/callback"}, want: http.StatusFound,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				u, err := e.store.GetUserByEmail(ctx, ada)
				if err != nil {
					t.Fatal(err)
				}
				return func() func() answer {
					b := e.browser()
					cb := callbackOf(t, e, b, c, u.ID)
					return func() answer { return sweepGet(t, e, b, cb) }
				}
			}},
		{name: "client_credentials", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, opaqueTokens)
				return once(token(t, e, c, url.Values{"grant_type": {"client_credentials"}}))
			}},
		{name: "code exchange", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, opaqueTokens)
				b := e.browser()
				return func() func() answer {
					res, verifier := e.signIn(b, c, ada)
					return token(t, e, c, url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
						"redirect_uri": {c.Redirect}, "code_verifier": {verifier}})
				}
			}},
		{name: "code exchange with the phone scope", routes: []string{"/oauth/token"}, want: 200, normal: idTokenHasPhone,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				givePhone(t, e, ada)
				b := e.browser()
				return func() func() answer {
					res, verifier := e.signIn(b, c, ada, oauth2.SetAuthURLParam("scope", "openid phone offline_access"))
					return token(t, e, c, url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
						"redirect_uri": {c.Redirect}, "code_verifier": {verifier}})
				}
			}},
		{name: "refresh", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				b := e.browser()
				return func() func() answer {
					rt := e.tokens(ctx, b, c, ada).RefreshToken
					return token(t, e, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				}
			}},
		{name: "device poll", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return approvedDevicePoll(t, e, codeClient(e), ada, "openid offline_access")
			}},
		{name: "device poll, pending", routes: []string{"/oauth/token"}, want: http.StatusBadRequest,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return func() func() answer {
					da := e.authorizeDevice(c, "openid", nil)
					return token(t, e, c, url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}})
				}
			}},
		{name: "device poll with the phone scope", routes: []string{"/oauth/token"}, want: 200, normal: idTokenHasPhone,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, func(c *storage.Client) { c.Scopes = []string{"phone"} })
				givePhone(t, e, ada)
				return approvedDevicePoll(t, e, c, ada, "openid phone")
			}},
		{name: "refresh with the phone scope", routes: []string{"/oauth/token"}, want: 200, normal: idTokenHasPhone,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				givePhone(t, e, ada)
				b := e.browser()
				return func() func() answer {
					rt := e.tokens(ctx, b, c, ada, oauth2.SetAuthURLParam("scope", "openid phone offline_access")).RefreshToken
					return token(t, e, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				}
			}},
		{name: "device authorization", routes: []string{"/device_authorization"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return once(func() answer {
					return sweepForm(t, e, "/device_authorization", url.Values{"scope": {"openid"}}, c.ID, c.Secret)
				})
			}},
		{name: "private_key_jwt client_credentials", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				k := newAssertionKey(t, "k1")
				c := e.privateKeyJWTClient(jwksJSON(t, k), "", "client_credentials")
				return func() func() answer {
					form := withForm(assertionForm(k.assertion(t, c.ID, e.issuer+"/oauth/token", nil)), "grant_type", "client_credentials")
					return func() answer { return sweepForm(t, e, "/oauth/token", form, "", "") }
				}
			}},
		{name: "private_key_jwt introspection", routes: []string{"/oauth/introspect"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				k := newAssertionKey(t, "k1")
				c := e.privateKeyJWTClient(jwksJSON(t, k), "", "client_credentials")
				cc := codeClient(e)
				at := jsonStr(token(t, e, cc, url.Values{"grant_type": {"client_credentials"}})().body, "access_token")
				return func() func() answer {
					form := withForm(assertionForm(k.assertion(t, c.ID, e.issuer, nil)), "token", at)
					return func() answer { return sweepForm(t, e, "/oauth/introspect", form, "", "") }
				}
			}},
		{name: "DPoP client_credentials", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, opaqueTokens)
				k := newDPoPKey(t)
				nonce := e.dpopNonce(t, k, c)
				return func() func() answer {
					proof := k.proof(t, "POST", e.issuer+"/oauth/token", nonce, "")
					return func() answer {
						return sweepForm(t, e, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret, "DPoP", proof)
					}
				}
			}},
		{name: "DPoP refresh", routes: []string{"/oauth/token"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				e.addUser(ada)
				c := e.addClient(storage.ClientPublic, firstParty)
				k := newDPoPKey(t)
				nonce := e.dpopNonce(t, k, c)
				tokenURL := e.issuer + "/oauth/token"
				b := e.browser()
				return func() func() answer {
					res, verifier := e.signIn(b, c, ada)
					st, _, body := e.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
						"redirect_uri": {c.Redirect}, "code_verifier": {verifier}, "client_id": {c.ID}}, "", "", k.proof(t, "POST", tokenURL, nonce, ""))
					if st != http.StatusOK {
						t.Fatalf("code exchange: %d %s", st, body)
					}
					form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {jsonStr(body, "refresh_token")}, "client_id": {c.ID}}
					proof := k.proof(t, "POST", tokenURL, nonce, "")
					return func() answer { return sweepForm(t, e, "/oauth/token", form, "", "", "DPoP", proof) }
				}
			}},
		{name: "DPoP userinfo", routes: []string{"/userinfo"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, opaqueTokens)
				k := newDPoPKey(t)
				nonce := e.dpopNonce(t, k, c)
				b := e.browser()
				return func() func() answer {
					res, verifier := e.signIn(b, c, ada)
					st, _, body := e.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
						"redirect_uri": {c.Redirect}, "code_verifier": {verifier}}, c.ID, c.Secret, k.proof(t, "POST", e.issuer+"/oauth/token", nonce, ""))
					if st != http.StatusOK {
						t.Fatalf("code exchange: %d %s", st, body)
					}
					at := jsonStr(body, "access_token")
					proof := k.proof(t, "GET", e.issuer+"/userinfo", nonce, at)
					return func() answer { return sweepGet(t, e, nil, "/userinfo", "Authorization", "DPoP "+at, "DPoP", proof) }
				}
			}},
		{name: "introspection of an opaque access token", routes: []string{"/oauth/introspect"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, opaqueTokens)
				at := e.tokens(ctx, e.browser(), c, ada).AccessToken
				return introspect(t, e, c, at)
			}},
		{name: "introspection of a JWT access token", routes: []string{"/oauth/introspect"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				at := e.tokens(ctx, e.browser(), c, ada).AccessToken
				return introspect(t, e, c, at)
			}},
		{name: "introspection of a client_credentials JWT", routes: []string{"/oauth/introspect"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				at := jsonStr(token(t, e, c, url.Values{"grant_type": {"client_credentials"}})().body, "access_token")
				return introspect(t, e, c, at)
			}},
		{name: "introspection of a refresh token", routes: []string{"/oauth/introspect"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				rt := e.tokens(ctx, e.browser(), c, ada).RefreshToken
				return introspect(t, e, c, rt)
			}},
		{name: "userinfo", routes: []string{"/userinfo"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e, opaqueTokens)
				at := e.tokens(ctx, e.browser(), c, ada).AccessToken
				return once(func() answer { return sweepGet(t, e, nil, "/userinfo", "Authorization", "Bearer "+at) })
			}},
		{name: "userinfo by POST with the phone scope", routes: []string{"/userinfo"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				givePhone(t, e, ada)
				at := e.tokens(ctx, e.browser(), c, ada, oauth2.SetAuthURLParam("scope", "openid phone")).AccessToken
				return once(func() answer {
					return sweepForm(t, e, "/userinfo", url.Values{}, "", "", "Authorization", "Bearer "+at)
				})
			}},
		{name: "revocation of a refresh token", routes: []string{"/revoke"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				b := e.browser()
				return func() func() answer {
					rt := e.tokens(ctx, b, c, ada).RefreshToken
					return func() answer { return sweepForm(t, e, "/revoke", url.Values{"token": {rt}}, c.ID, c.Secret) }
				}
			}},
		{name: "revocation of a JWT access token", routes: []string{"/revoke"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				b := e.browser()
				return func() func() answer {
					at := e.tokens(ctx, b, c, ada).AccessToken
					return func() answer { return sweepForm(t, e, "/revoke", url.Values{"token": {at}}, c.ID, c.Secret) }
				}
			}},
		{name: "end_session by GET", routes: []string{"/end_session"}, want: http.StatusFound,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return func() func() answer {
					b := e.browser()
					idt, _ := e.tokens(ctx, b, c, ada).Extra("id_token").(string)
					q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {c.c.PostLogoutRedirectURIs[0]}, "state": {"x"}}
					return func() answer { return sweepGet(t, e, b, "/end_session?"+q.Encode()) }
				}
			}},
		{name: "end_session by POST", routes: []string{"/end_session"}, want: http.StatusFound,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				c := codeClient(e)
				return func() func() answer {
					b := e.browser()
					idt, _ := e.tokens(ctx, b, c, ada).Extra("id_token").(string)
					q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {c.c.PostLogoutRedirectURIs[0]}, "state": {"x"}}
					return func() answer {
						req, _ := http.NewRequest(http.MethodPost, e.addr+"/end_session", strings.NewReader(q.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						return sweepSend(t, b, req)
					}
				}
			}},
		{name: "dynamic registration", routes: []string{"/connect/register"}, want: http.StatusCreated,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return func() func() answer {
					tok := e.initialToken(1)
					return func() answer {
						return sweepJSON(t, e, http.MethodPost, e.addr+"/connect/register", tok, map[string]any{
							"client_name": "Sweep", "redirect_uris": []string{"https://rp.example/cb"}})
					}
				}
			}},
		{name: "registration read", routes: []string{"/connect/register/"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				uri, rat := registerSweepClient(t, e)
				return once(func() answer { return sweepJSON(t, e, http.MethodGet, uri, rat, nil) })
			}},
		{name: "registration update", routes: []string{"/connect/register/"}, want: 200,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				uri, rat := registerSweepClient(t, e)
				id := uri[strings.LastIndex(uri, "/")+1:]
				return once(func() answer {
					return sweepJSON(t, e, http.MethodPut, uri, rat, map[string]any{"client_id": id,
						"client_name": "Sweep renamed", "redirect_uris": []string{"https://rp.example/cb"}})
				})
			}},
		{name: "registration delete", routes: []string{"/connect/register/"}, want: http.StatusNoContent,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				return func() func() answer {
					uri, rat := registerSweepClient(t, e)
					return func() answer { return sweepJSON(t, e, http.MethodDelete, uri, rat, nil) }
				}
			}},
		{name: "licence activation", routes: []string{"/api/v1/licences/{id}/activations"}, want: http.StatusCreated, env: licenceFaultEnv,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				le := licenceEnvOf(t, e)
				codes := le.issue("antivirus", 1, 30, 1)
				if p := le.redeem(codes[0].Code); p.status != http.StatusOK {
					t.Fatalf("redeem: %d", p.status)
				}
				tok := le.device(le.av, "install-1", "One")
				return once(func() answer {
					req, _ := http.NewRequest(http.MethodPost, e.addr+"/api/v1/licences/"+codes[0].ID+"/activations", nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					return sweepSend(t, nil, req)
				})
			}},
		{name: "code exchange with the licences scope", routes: []string{"/oauth/token"}, want: 200, env: licenceFaultEnv,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				le := licenceEnvOf(t, e)
				codes := le.issue("antivirus", 1, 30, 1)
				if p := le.redeem(codes[0].Code); p.status != http.StatusOK {
					t.Fatalf("redeem: %d", p.status)
				}
				return func() func() answer {
					res, verifier := e.signIn(le.b, le.av, ada, oauth2.SetAuthURLParam("scope", "openid offline_access licences"),
						oauth2.SetAuthURLParam("device_id", "install-1"), oauth2.SetAuthURLParam("device_name", "One"))
					form := url.Values{"grant_type": {"authorization_code"}, "code": {res.code}, "client_id": {le.av.ID},
						"redirect_uri": {le.av.Redirect}, "code_verifier": {verifier}}
					return func() answer { return sweepForm(t, e, "/oauth/token", form, "", "") }
				}
			}},
		{name: "userinfo with the licences scope", routes: []string{"/userinfo"}, want: 200, env: licenceFaultEnv,
			build: func(t *testing.T, e *testEnv) func() func() answer {
				le := licenceEnvOf(t, e)
				codes := le.issue("antivirus", 1, 30, 1)
				if p := le.redeem(codes[0].Code); p.status != http.StatusOK {
					t.Fatalf("redeem: %d", p.status)
				}
				at := le.device(le.av, "install-1", "One").AccessToken
				return once(func() answer { return sweepGet(t, e, nil, "/userinfo", "Authorization", "Bearer "+at) })
			}},
	}
}

// licenceEnvs remembers the licence environment each licence scenario's server belongs to
// (guarded by licenceEnvMu: the scenarios run in parallel).
var (
	licenceEnvMu sync.Mutex
	licenceEnvs  = map[*testEnv]*licenceEnv{}
)

func licenceFaultEnv(t *testing.T) (*testEnv, *faultstore.Store) {
	t.Helper()
	var fs *faultstore.Store
	le := newLicenceEnvWith(t, envOptions{wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	licenceEnvMu.Lock()
	licenceEnvs[le.testEnv] = le
	licenceEnvMu.Unlock()
	t.Cleanup(func() {
		licenceEnvMu.Lock()
		delete(licenceEnvs, le.testEnv)
		licenceEnvMu.Unlock()
	})
	return le.testEnv, fs
}

func licenceEnvOf(t *testing.T, e *testEnv) *licenceEnv {
	t.Helper()
	licenceEnvMu.Lock()
	defer licenceEnvMu.Unlock()
	le := licenceEnvs[e]
	if le == nil {
		t.Fatal("a licence scenario needs env: licenceFaultEnv")
	}
	return le
}

// givePhone gives the person a verified number, as confirming the SMS code does.
func givePhone(t *testing.T, e *testEnv, email string) {
	t.Helper()
	ctx := context.Background()
	u, err := e.store.GetUserByEmail(ctx, strings.ToLower(email))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := e.store.PutPhoneVerification(ctx, &storage.PhoneVerification{UserID: u.ID, E164: "+4915123456789",
		CodeHash: "sweep", Sends: 1, CreatedAt: now, LastSentAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ConfirmPhone(ctx, u.ID, "sweep", now); err != nil {
		t.Fatal(err)
	}
}

// registerSweepClient registers a client dynamically and returns its configuration URI and
// registration access token.
func registerSweepClient(t *testing.T, e *testEnv) (uri, rat string) {
	t.Helper()
	a := sweepJSON(t, e, http.MethodPost, e.addr+"/connect/register", e.initialToken(1), map[string]any{
		"client_name": "Sweep", "redirect_uris": []string{"https://rp.example/cb"}})
	if a.status != http.StatusCreated {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	uri, rat = jsonStr(a.body, "registration_client_uri"), jsonStr(a.body, "registration_access_token")
	if uri == "" || rat == "" {
		t.Fatalf("register: no configuration endpoint: %s", a.body)
	}
	// The URI names the issuer; the sweep talks to this instance's address.
	return strings.Replace(uri, e.issuer, e.addr, 1), rat
}

// callbackOf starts an authorization request in browser b and completes it as the sign-in
// does when the provider issues the code in the callback (a request the sign-in issued no
// code for), and returns the callback's URL, not yet visited. (The sign-in pages issue a
// code themselves and send the browser straight to the client; the callback is for the
// rest, and the sweep does not depend on what that rest is today.)
func callbackOf(t *testing.T, e *testEnv, b *browser, c *testClient, userID string) string {
	t.Helper()
	_, challenge := pkce()
	a := sweepGet(t, e, b, e.oauth2Config(c).AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", challenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256")))
	loc, err := url.Parse(a.header.Get("Location"))
	id := ""
	if err == nil {
		id = loc.Query().Get("authRequestID")
	}
	if id == "" {
		t.Fatalf("authorize: %d Location %q, want the sign-in page", a.status, a.header.Get("Location"))
	}
	if err := e.store.CompleteAuthRequest(context.Background(), id, userID, "", time.Now(), []string{"pwd"}, ""); err != nil {
		t.Fatal(err)
	}
	return e.addr + "/authorize/callback?" + url.Values{"id": {id}}.Encode()
}

// checkProbe: a readiness probe whose store call fails says it is not ready (503), and only
// that; it is no client's OAuth answer.
func checkProbe(t *testing.T, what string, normal, got answer) {
	t.Helper()
	if got.status != normal.status && got.status != http.StatusServiceUnavailable {
		t.Errorf("%s: %d, want %d or 503", what, got.status, normal.status)
	}
	for _, l := range leaks {
		if strings.Contains(strings.ToLower(got.body), l) {
			t.Errorf("%s: answer leaks %q: %s", what, l, got.body)
		}
	}
}

// idTokenHasPhone: the token answer's ID token carries the phone scope's number.
func idTokenHasPhone(t *testing.T, a answer) {
	t.Helper()
	idt := jsonStr(a.body, "id_token")
	if idt == "" {
		t.Fatalf("no ID token: %.300s", a.body)
	}
	if n, _ := jwtPayload(t, idt)["phone_number"].(string); n == "" {
		t.Fatalf("the ID token has no phone_number: %v", jwtPayload(t, idt))
	}
}

// approvedDevicePoll returns a scenario's preparation: a device code of c for scope, approved
// in the store by the person of email (the page's per-address limit on entered codes would
// stop this many), and its poll.
func approvedDevicePoll(t *testing.T, e *testEnv, c *testClient, email, scope string) func() func() answer {
	ctx := context.Background()
	u, err := e.store.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	return func() func() answer {
		da := e.authorizeDevice(c, scope, nil)
		now := e.clock.Now()
		if err := e.store.DecideDeviceCode(ctx, strings.ReplaceAll(da.UserCode, "-", ""),
			storage.DeviceApproved, u.ID, now, []string{"pwd"}, now); err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}}
		return func() answer { return sweepForm(t, e, "/oauth/token", form, c.ID, c.Secret) }
	}
}

// pushedAuthorize pushes an authorization request of c and returns a new browser and the
// /authorize URL that names it.
func pushedAuthorize(t *testing.T, e *testEnv, c *testClient) (*browser, string) {
	form, _, _ := parForm(c)
	st, pr, body := e.push(form, c.ID, c.Secret)
	if st != http.StatusCreated {
		t.Fatalf("push: %d %s", st, body)
	}
	return e.browser(), "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode()
}
