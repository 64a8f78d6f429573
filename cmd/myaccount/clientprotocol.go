package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/myaccount/myaccount/internal/admin"
)

// protocolFlags are issue 16's client settings as create and update take them.
type protocolFlags struct {
	fs                   *flag.FlagSet
	jwksURI, jwksFile    *string
	backchannelURI       *string
	backchannelSession   *bool
	requirePAR, dpopOnly *bool
	resources            multiFlag
}

func addProtocolFlags(fs *flag.FlagSet) *protocolFlags {
	p := &protocolFlags{fs: fs}
	p.jwksURI = fs.String("jwks-uri", "", "https URL of the client's JWK Set, for private_key_jwt (\"\" clears it)")
	p.jwksFile = fs.String("jwks-file", "", "file holding the client's JWK Set (public keys), for private_key_jwt; - reads standard input")
	p.backchannelURI = fs.String("backchannel-logout-uri", "", "the client's OpenID Connect back-channel logout endpoint (\"\" clears it)")
	p.backchannelSession = fs.Bool("backchannel-logout-session-required", false, "logout tokens always carry sid")
	p.requirePAR = fs.Bool("require-par", false, "authorization requests must be pushed to /par first (RFC 9126)")
	p.dpopOnly = fs.Bool("dpop-bound-access-tokens", false, "every token request must carry a DPoP proof (RFC 9449)")
	fs.Var(&p.resources, "resource", "resource indicator (RFC 8707) the client may ask tokens for, an absolute URI (repeatable)")
	return p
}

func (p *protocolFlags) given() map[string]bool {
	g := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { g[f.Name] = true })
	return g
}

func (p *protocolFlags) readJWKS(e env) (string, error) {
	var b []byte
	var err error
	if *p.jwksFile == "-" {
		b, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	} else {
		b, err = os.ReadFile(*p.jwksFile)
	}
	if err != nil {
		return "", fmt.Errorf("--jwks-file: %w", err)
	}
	return string(b), nil
}

// protocol is the settings for a new client.
func (p *protocolFlags) protocol(e env) (admin.Protocol, error) {
	out := admin.Protocol{JWKSURI: *p.jwksURI, BackchannelLogoutURI: *p.backchannelURI,
		BackchannelLogoutSessionRequired: *p.backchannelSession, RequirePAR: *p.requirePAR,
		DPoPBoundAccessTokens: *p.dpopOnly, Resources: p.resources}
	if *p.jwksFile != "" {
		s, err := p.readJWKS(e)
		if err != nil {
			return out, err
		}
		out.JWKS = s
	}
	return out, nil
}

// patch sets in cp the settings given on the command line and reports whether any was.
func (p *protocolFlags) patch(e env, cp *admin.ClientPatch) (bool, error) {
	g := p.given()
	if g["jwks-file"] {
		s, err := p.readJWKS(e)
		if err != nil {
			return false, err
		}
		cp.JWKS = &s
		if !g["jwks-uri"] { // one or the other: a new key set replaces the address
			cp.JWKSURI = new(string)
		}
	}
	if g["jwks-uri"] {
		cp.JWKSURI = p.jwksURI
		if !g["jwks-file"] {
			cp.JWKS = new(string)
		}
	}
	if g["backchannel-logout-uri"] {
		cp.BackchannelLogoutURI = p.backchannelURI
	}
	if g["backchannel-logout-session-required"] {
		cp.BackchannelLogoutSessionRequired = p.backchannelSession
	}
	if g["require-par"] {
		cp.RequirePAR = p.requirePAR
	}
	if g["dpop-bound-access-tokens"] {
		cp.DPoPBoundAccessTokens = p.dpopOnly
	}
	if g["resource"] {
		r := []string(p.resources)
		if len(r) == 1 && r[0] == "" { // --resource "" clears the list
			r = []string{}
		}
		cp.Resources = &r
	}
	for _, name := range []string{"jwks-file", "jwks-uri", "backchannel-logout-uri", "backchannel-logout-session-required",
		"require-par", "dpop-bound-access-tokens", "resource"} {
		if g[name] {
			return true, nil
		}
	}
	return false, nil
}
