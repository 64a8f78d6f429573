package server_test

import (
	"slices"
	"testing"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/server"
)

// TestRoutesListsEveryRouter: Routes reads every router the handler is built from: the
// probes, the provider's paths, the admin API's operations, the licence and registration
// APIs and the UI's router (with its methods), each path once.
func TestRoutesListsEveryRouter(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: func(c *config.Config) { c.Registration.Enabled = true }})
	routes := e.srv.Routes()
	find := func(path string) *server.Route {
		for i := range routes {
			if routes[i].Path == path {
				return &routes[i]
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.Path] {
			t.Errorf("%s is listed twice", rt.Path)
		}
		seen[rt.Path] = true
	}
	for _, c := range []struct {
		path    string
		methods []string // nil: the handler takes every method
		prefix  bool
	}{
		{"/healthz", nil, false},
		{"/readyz", nil, false},
		{"/.well-known/openid-configuration", nil, false},
		{"/oauth/token", nil, false},
		{"/end_session", nil, false},
		{"/admin/api/v1/openapi.yaml", []string{"GET"}, false},
		{"/admin/api/v1/users/{id}/lock", []string{"POST"}, false},
		{"/api/v1/licences/{id}/activations", nil, false}, // POST, and 405 in JSON for the rest
		{"/connect/register", nil, false},
		{"/connect/register/", nil, true},
		{"/login", []string{"GET", "HEAD", "POST"}, false},
		{"/admin/users/{id}/{action}", []string{"POST"}, false},
		{"/static/", []string{"GET", "HEAD"}, true},
	} {
		rt := find(c.path)
		if rt == nil {
			t.Errorf("%s is not listed", c.path)
			continue
		}
		if !slices.Equal(rt.Methods, c.methods) || rt.Prefix != c.prefix {
			t.Errorf("%s: methods %v prefix %v, want %v %v", c.path, rt.Methods, rt.Prefix, c.methods, c.prefix)
		}
	}
	for _, rt := range routes {
		if rt.Prefix && (rt.Path == "/" || rt.Path == "/admin/api/v1/") {
			t.Errorf("%s: the catch-all and the admin API's prefix hand over to routers, whose routes are listed instead", rt.Path)
		}
	}
}
