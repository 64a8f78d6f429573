// Package errcode carries a machine-readable error code from where an error page is decided
// (the provider in op, or the UI) to the UI's error page, which shows it in small print for
// the application's developer ("Error code: invalid_redirect_uri") under the explanation
// meant for the person. op and ui may not import each other, so the code travels in the
// request's context rather than in the ErrorPage signature every caller shares.
package errcode

import (
	"context"
	"net/http"
)

type key struct{}

// With returns r carrying code for the error page it is about to render.
func With(r *http.Request, code string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), key{}, code))
}

// From returns the code r's context carries, or "".
func From(ctx context.Context) string {
	c, _ := ctx.Value(key{}).(string)
	return c
}
