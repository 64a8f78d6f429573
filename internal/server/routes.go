package server

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/admin"
)

// Route is one route the server serves.
type Route struct {
	// Methods are the methods the route answers; nil when its handler takes every method and
	// decides itself (the provider's endpoints, dynamic registration, the probes).
	Methods []string
	// Path is the path template, with {name} for a path variable (gorilla/mux syntax).
	Path string
	// Prefix is set when the route serves every path below Path (static files, a handler
	// that routes the rest itself).
	Prefix bool
}

// probe is one of the probes, served outside the routers (and outside the fault mapping).
type probe struct {
	path    string
	handler http.HandlerFunc
}

// probes are the server's probes; /ready is the library's old name of /readyz, kept for
// existing probes.
func (s *Server) probes() []probe {
	return []probe{{"/healthz", s.live}, {"/readyz", s.ready}, {"/ready", s.ready}}
}

// Routes lists every route the server serves, read from the routers the handler was built
// from (the probes, the root router with the provider's paths, the licence and registration
// APIs, the admin API's operations and the UI's router), so that a route added to any of them
// is listed without anyone keeping a list. Routes of one path are merged; the order is the
// routers'.
func (s *Server) Routes() []Route {
	var out []Route
	add := func(rt Route) {
		for i := range out {
			if out[i].Path == rt.Path && out[i].Prefix == rt.Prefix {
				if out[i].Methods != nil && rt.Methods != nil {
					for _, m := range rt.Methods {
						if !slices.Contains(out[i].Methods, m) {
							out[i].Methods = append(out[i].Methods, m)
						}
					}
				} else {
					out[i].Methods = nil // one of them takes every method
				}
				return
			}
		}
		out = append(out, rt)
	}
	for _, p := range s.probes() {
		add(Route{Path: p.path})
	}
	walkRoutes(s.root, func(rt Route) {
		switch {
		case rt.Prefix && rt.Path == admin.Prefix+"/":
			// The admin API routes the rest itself (an http.ServeMux built from admin.Routes).
			for _, op := range admin.Routes() {
				method, path, _ := strings.Cut(op, " ")
				add(Route{Methods: []string{method}, Path: admin.Prefix + path})
			}
		case rt.Prefix && rt.Path == "/":
			// The catch-all hands over to the UI's router.
			walkRoutes(s.ui, add)
		default:
			add(rt)
		}
	})
	return out
}

// walkRoutes calls fn with each route of r that has a path.
func walkRoutes(r *mux.Router, fn func(Route)) {
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (none today) is not one a client can name
		}
		re, _ := route.GetPathRegexp()
		rt := Route{Path: tpl, Prefix: !strings.HasSuffix(re, "$")}
		if methods, err := route.GetMethods(); err == nil {
			rt.Methods = slices.Clone(methods)
		}
		fn(rt)
		return nil
	})
}
