// Package op is MyAccount's OpenID provider core. It adapts our storage and signing keys to
// zitadel/oidc's op.Storage and wraps the library's handlers with the rules the library leaves
// to us: exact redirect-URI matching, the S256-only PKCE policy, binding an authorization
// request to the browser that started it, single-use codes, rotating refresh tokens with reuse
// detection, and Cache-Control: no-store on token responses.
//
// op never imports ui: the login UI reaches the provider only through the callback URL that
// cmd/myaccount hands it.
package op
