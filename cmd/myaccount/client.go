package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/myaccount/myaccount/internal/clientmeta"
	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

const (
	grantCode              = "authorization_code"
	grantRefresh           = "refresh_token"
	grantClientCredentials = "client_credentials"
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

var knownGrants = []string{grantCode, grantRefresh, grantClientCredentials, grantDeviceCode}

func cmdClient(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: myaccount client create|update|list|show|delete|rotate-secret")
	}
	switch args[0] {
	case "create":
		return clientCreate(ctx, e, args[1:])
	case "update":
		return clientUpdate(ctx, e, args[1:])
	case "list", "show", "delete", "rotate-secret":
		return clientOther(ctx, e, args[0], args[1:])
	default:
		return fmt.Errorf("unknown client command %q", args[0])
	}
}

// clientView is how a client is printed (never its secret hash).
type clientView struct {
	ClientID               string   `json:"client_id"`
	ClientSecret           string   `json:"client_secret,omitempty"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	FirstParty             bool     `json:"first_party"`
	AccessTokenFormat      string   `json:"access_token_format"`
	IDTokenAlg             string   `json:"id_token_alg"`
	RequireMFA             bool     `json:"require_mfa"`
	LogoURI                string   `json:"logo_uri"`
	ClientURI              string   `json:"client_uri"`
	PolicyURI              string   `json:"policy_uri"`
	TosURI                 string   `json:"tos_uri"`
	CreatedAt              string   `json:"created_at"`
}

func viewClient(c *storage.Client) clientView {
	return clientView{
		ClientID: c.ID, Name: c.Name, Type: c.Type,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), FirstParty: c.FirstParty,
		AccessTokenFormat: c.AccessTokenFormat, IDTokenAlg: c.IDTokenAlg, RequireMFA: c.RequireMFA,
		LogoURI: c.LogoURI, ClientURI: c.ClientURI, PolicyURI: c.PolicyURI, TosURI: c.TosURI,
		CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func clientCreate(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "client create")
	name := fs.String("name", "", "display name shown to people on the sign-in and consent pages (required)")
	typ := fs.String("type", "", "confidential | public | native (required)")
	var redirects, postLogout, grants, scopes multiFlag
	fs.Var(&redirects, "redirect-uri", "redirect URI, matched exactly (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	fs.Var(&grants, "grant-type", "grant type (repeatable; default authorization_code and refresh_token)")
	fs.Var(&scopes, "scope", "extra scope the client may ask for (repeatable)")
	firstParty := fs.Bool("first-party", false, "trusted first-party client: no consent page")
	format := fs.String("access-token-format", storage.TokenFormatJWT, "jwt | opaque")
	alg := fs.String("id-token-alg", "RS256", "ID token signing algorithm: RS256 | ES256")
	requireMFA := fs.Bool("require-mfa", false, "require two-step verification for sign-ins to this client")
	meta := addMetaFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := buildClient(*name, *typ, redirects, postLogout, grants, scopes, *firstParty, *format, *alg)
	if merr := meta.check(); merr != nil {
		err = errors.Join(err, merr)
	}
	if err != nil {
		return err
	}
	c.RequireMFA = *requireMFA
	meta.apply(fs, c)
	var sec string
	if c.Type == storage.ClientConfidential {
		sec = secret.RandomToken(32)
		c.SecretHash = secret.HashToken(sec)
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateClient(ctx, c); err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]string{"client_id": c.ID, "client_secret": sec})
	}
	fmt.Fprintf(e.stdout, "client_id:     %s\n", c.ID)
	if sec != "" {
		fmt.Fprintf(e.stdout, "client_secret: %s\n(the secret is shown only now; only its hash is stored)\n", sec)
	}
	return nil
}

// buildClient validates the flags and returns a new client with a fresh id.
func buildClient(name, typ string, redirects, postLogout, grants, scopes []string, firstParty bool, format, alg string) (*storage.Client, error) {
	var problems []error
	if strings.TrimSpace(name) == "" {
		problems = append(problems, errors.New("--name is required"))
	}
	if !slices.Contains([]string{storage.ClientConfidential, storage.ClientPublic, storage.ClientNative}, typ) {
		problems = append(problems, errors.New("--type must be confidential, public or native"))
	}
	if len(grants) == 0 {
		grants = []string{grantCode, grantRefresh}
	}
	for _, g := range grants {
		if !slices.Contains(knownGrants, g) {
			problems = append(problems, fmt.Errorf("--grant-type %q is not supported (use one of %s)", g, strings.Join(knownGrants, ", ")))
		}
	}
	if slices.Contains(grants, grantClientCredentials) && typ != storage.ClientConfidential {
		problems = append(problems, errors.New("client_credentials needs a confidential client"))
	}
	if slices.Contains(grants, grantCode) && len(redirects) == 0 {
		problems = append(problems, errors.New("--redirect-uri is required for the authorization_code grant"))
	}
	for _, u := range append(slices.Clone(redirects), postLogout...) {
		if !redirecturi.ValidForType(u, typ) {
			problems = append(problems, fmt.Errorf("redirect URI %q is not allowed for a %s client (absolute, no fragment; http only on loopback; custom schemes only for native apps, in reverse-domain form)", u, typ))
		}
	}
	if format != storage.TokenFormatJWT && format != storage.TokenFormatOpaque {
		problems = append(problems, errors.New("--access-token-format must be jwt or opaque"))
	}
	if alg != "RS256" && alg != "ES256" {
		problems = append(problems, errors.New("--id-token-alg must be RS256 or ES256"))
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") {
			problems = append(problems, fmt.Errorf("--scope %q is not a valid scope token", s))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	now := time.Now().UTC()
	return &storage.Client{
		ID: secret.NewID(), Name: name, Type: typ,
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout, GrantTypes: dedupe(grants),
		Scopes: scopes, FirstParty: firstParty, AccessTokenFormat: format, IDTokenAlg: alg,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

// metaFlags are the addresses shown on the consent page, as create and update take them.
type metaFlags struct {
	flags []metaFlag
}

type metaFlag struct {
	name  string
	value *string
	field func(*storage.Client) *string
}

func addMetaFlags(fs *flag.FlagSet) *metaFlags {
	m := &metaFlags{}
	add := func(name, usage string, field func(*storage.Client) *string) {
		m.flags = append(m.flags, metaFlag{name: name, value: fs.String(name, "", usage), field: field})
	}
	add("logo-uri", "https URL of the application's logo, shown on the consent page (\"\" clears it)",
		func(c *storage.Client) *string { return &c.LogoURI })
	add("client-uri", "https URL of the application's home page; its domain is shown on the consent page (\"\" clears it)",
		func(c *storage.Client) *string { return &c.ClientURI })
	add("policy-uri", "https URL of the application's privacy policy, linked from the consent page (\"\" clears it)",
		func(c *storage.Client) *string { return &c.PolicyURI })
	add("tos-uri", "https URL of the application's terms of service, linked from the consent page (\"\" clears it)",
		func(c *storage.Client) *string { return &c.TosURI })
	return m
}

// check validates the flags given on the command line.
func (m *metaFlags) check() error {
	var problems []error
	for _, f := range m.flags {
		if err := clientmeta.Check(*f.value); err != nil {
			problems = append(problems, fmt.Errorf("--%s %q %v", f.name, *f.value, err))
		}
	}
	return errors.Join(problems...)
}

// apply copies the flags given on the command line into c and reports whether any was
// given; an empty value clears the field.
func (m *metaFlags) apply(fs *flag.FlagSet, c *storage.Client) bool {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	changed := false
	for _, f := range m.flags {
		if given[f.name] {
			*f.field(c) = *f.value
			changed = true
		}
	}
	return changed
}

// clientUpdate changes what the consent page shows about an existing client.
func clientUpdate(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "client update")
	meta := addMetaFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: myaccount client update CLIENT_ID [--logo-uri URL] [--client-uri URL] [--policy-uri URL] [--tos-uri URL] [--json]")
	}
	if err := meta.check(); err != nil {
		return err
	}
	if !meta.apply(fs, &storage.Client{}) {
		return errors.New("nothing to update: give --logo-uri, --client-uri, --policy-uri or --tos-uri")
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := st.UpdateClient(ctx, pos[0], func(c *storage.Client) error {
		meta.apply(fs, c)
		c.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		return fmt.Errorf("update client %q: %w", pos[0], err)
	}
	if *asJSON {
		return printJSON(e.stdout, viewClient(c))
	}
	return printFields(e.stdout, viewClient(c))
}

func dedupe(s []string) []string {
	out := []string{}
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func clientOther(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "client "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if sub != "list" && len(pos) != 1 {
		return fmt.Errorf("usage: myaccount client %s CLIENT_ID [--json]", sub)
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		cs, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		views := make([]clientView, 0, len(cs))
		for _, c := range cs {
			views = append(views, viewClient(c))
		}
		if *asJSON {
			return printJSON(e.stdout, views)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tTYPE\tNAME\tGRANTS")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ClientID, v.Type, v.Name, strings.Join(v.GrantTypes, ","))
		}
		return tw.Flush()
	case "show":
		c, err := st.GetClient(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("client %q: %w", pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, viewClient(c))
		}
		return printFields(e.stdout, viewClient(c))
	case "delete":
		if err := st.DeleteClient(ctx, pos[0]); err != nil {
			return fmt.Errorf("delete client %q: %w", pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]any{"client_id": pos[0], "deleted": true})
		}
		fmt.Fprintf(e.stdout, "client %s deleted\n", pos[0])
		return nil
	default: // rotate-secret
		sec := secret.RandomToken(32)
		_, err := st.UpdateClient(ctx, pos[0], func(c *storage.Client) error {
			if c.Type != storage.ClientConfidential {
				return errors.New("only confidential clients have a secret")
			}
			c.SecretHash = secret.HashToken(sec)
			c.UpdatedAt = time.Now().UTC()
			return nil
		})
		if err != nil {
			return fmt.Errorf("rotate secret of %q: %w", pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]string{"client_id": pos[0], "client_secret": sec})
		}
		fmt.Fprintf(e.stdout, "client_id:     %s\nclient_secret: %s\n(the old secret no longer works; the new one is shown only now)\n", pos[0], sec)
		return nil
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printFields prints a struct's JSON fields one per line, for humans.
func printFields(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		val := m[k]
		if l, ok := val.([]any); ok {
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = fmt.Sprint(x)
			}
			val = strings.Join(parts, " ")
		}
		fmt.Fprintf(tw, "%s:\t%v\n", k, val)
	}
	return tw.Flush()
}
