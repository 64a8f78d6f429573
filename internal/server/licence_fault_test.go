package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestLicenceStoreFailuresAreOurs fails, one at a time, every store call the licence paths
// make (the claim at a refresh, userinfo, introspection, the activation API, the dashboard's
// redemption), and checks that the client is never told it is at fault.
func TestLicenceStoreFailuresAreOurs(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newLicenceEnvWith(t, envOptions{wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	codes := e.issue("antivirus", 1, 30, 1)
	if p := e.redeem(codes[0].Code); p.status != http.StatusOK {
		t.Fatalf("redeem: %d", p.status)
	}
	first := e.device(e.av, "install-1", "One")
	bearer := func(method, path, token string) answer {
		req, _ := http.NewRequest(method, e.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 8192)
		n, _ := resp.Body.Read(buf)
		return answer{resp.StatusCode, resp.Header, string(buf[:n])}
	}
	scenarios := []struct {
		name string
		prep func() func() answer
	}{
		{"refresh with the licences claim", func() func() answer {
			tok := e.device(e.av, "install-2", "Two")
			return func() answer {
				st, hdr, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"},
					"refresh_token": {tok.RefreshToken}, "client_id": {e.av.ID}}, "", "")
				return answer{st, hdr, body}
			}
		}},
		{"userinfo with licences", func() func() answer {
			return func() answer { return bearer(http.MethodGet, "/userinfo", first.AccessToken) }
		}},
		{"introspection with licences", func() func() answer {
			tok := e.tokens(context.Background(), e.b, e.web, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid licences"))
			return func() answer {
				st, hdr, body := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, e.web.ID, e.web.Secret)
				return answer{st, hdr, body}
			}
		}},
		{"activation of a held seat", func() func() answer {
			return func() answer {
				return bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", first.AccessToken)
			}
		}},
		{"activation on a full licence", func() func() answer {
			tok := e.device(e.av, "install-3", "Three")
			return func() answer {
				return bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", tok.AccessToken)
			}
		}},
		{"dashboard redemption", func() func() answer {
			f := e.b.get(e.issuer + "/account/licences").formValues()
			f.Set("code", licence.NewCode())
			return func() answer {
				p := e.b.post(e.issuer+"/account/licences/redeem", f)
				return answer{p.status, p.header, p.body}
			}
		}},
	}
	for _, sc := range scenarios {
		req := sc.prep()
		fs.ResetCalls()
		normal := req()
		methods := fs.Calls()
		if normal.status >= 500 || len(methods) == 0 {
			t.Fatalf("%s without failures: %d (%d store calls) %.300s", sc.name, normal.status, len(methods), normal.body)
		}
		for _, m := range methods {
			req := sc.prep()
			fs.Add(faultstore.Rule{Method: m, Err: faultstore.ErrInjected})
			got := req()
			fs.Clear()
			checkFailureAnswer(t, sc.name+" with "+m+" failing", normal, got)
		}
	}
}
