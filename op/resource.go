package op

// Resource indicators (RFC 8707).
//
// A client names the APIs it wants a token for with resource (repeatable) at /authorize and
// at the token endpoint. Each must be one the client registered (storage.Client.Resources),
// else the answer is invalid_target. The tokens' audience is then the client itself (so that
// it may introspect them, and the ID token names it) plus those resources, so an API checks
// that aud contains its own URI. A code exchange or a refresh may name fewer resources than
// were granted (narrowing); never others.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/storage"
)

// errInvalidTarget is RFC 8707 §2's error code.
const errInvalidTarget = "invalid_target"

// checkResources validates requested resource indicators for client c: absolute URIs without
// a fragment (RFC 8707 §2), each registered for c. It returns them deduplicated, in order.
func checkResources(c *storage.Client, requested []string) ([]string, *oidc.Error) {
	var out []string
	for _, res := range requested {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || strings.Contains(res, "#") || len(res) > 2048 {
			return nil, &oidc.Error{ErrorType: errInvalidTarget, Description: "resource must be an absolute URI without a fragment"}
		}
		if !slices.Contains(c.Resources, res) {
			return nil, &oidc.Error{ErrorType: errInvalidTarget, Description: "the resource is not registered for this client"}
		}
		if !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out, nil
}

// narrowResources returns the resources a token may name: requested (already checked against
// the registration) when each was granted, the granted ones when none was requested. ok is
// false when a requested one was not granted. A grant made without resources grants none:
// its tokens are for the client alone, and a later request cannot widen them.
func narrowResources(granted, requested []string) (res []string, ok bool) {
	if len(requested) == 0 {
		return granted, true
	}
	for _, r := range requested {
		if !slices.Contains(granted, r) {
			return nil, false
		}
	}
	return requested, true
}

// audience is a token's aud: the client, then the resources.
func audience(clientID string, resources []string) []string {
	return append([]string{clientID}, resources...)
}

// grantResources are the resources of a grant's audience (everything but the client).
func grantResources(g *storage.Grant) []string {
	var out []string
	for _, a := range g.Audience {
		if a != g.ClientID {
			out = append(out, a)
		}
	}
	return out
}

// preTokenResources checks a token request's resource indicators against client c's
// registration and keeps them for the grant's handling (requestInfo.resources). The device
// grant takes none: its authorization carries no resources. It reports whether the request
// may go on (it answered otherwise).
func (p *Provider) preTokenResources(w http.ResponseWriter, r *http.Request, c *storage.Client) bool {
	requested := r.PostForm["resource"]
	if len(requested) == 0 {
		return true
	}
	if r.PostForm.Get("grant_type") == string(oidc.GrantTypeDeviceCode) {
		writeOAuthError(w, &oidc.Error{ErrorType: errInvalidTarget, Description: "resource indicators are not supported with the device grant"}, http.StatusBadRequest)
		return false
	}
	res, oerr := checkResources(c, requested)
	if oerr != nil {
		writeOAuthError(w, oerr, http.StatusBadRequest)
		return false
	}
	requestInfoFrom(r.Context()).resources = res
	return true
}
