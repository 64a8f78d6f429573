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

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// The client commands are the admin service's client operations (internal/admin), run as
// the operator: the API, the console and the CLI share one set of rules, and each command
// leaves an audit event naming "cli" as its actor.

// adminService returns the admin service over the configured store.
func adminService(ctx context.Context, e env, path string) (*admin.Service, storage.Store, error) {
	_, st, err := openStore(ctx, e, path)
	if err != nil {
		return nil, nil, err
	}
	return &admin.Service{Store: st}, st, nil
}

// flagOf names a field of the service's validation errors as the flag that sets it.
var flagOf = map[string]string{
	"name": "--name", "type": "--type", "grant_types": "--grant-type", "redirect_uris": "--redirect-uri",
	"post_logout_redirect_uris": "--post-logout-redirect-uri", "access_token_format": "--access-token-format",
	"id_token_alg": "--id-token-alg", "scopes": "--scope", "logo_uri": "--logo-uri", "client_uri": "--client-uri",
	"policy_uri": "--policy-uri", "tos_uri": "--tos-uri",
	"token_endpoint_auth_method": "--token-endpoint-auth-method", "jwks_uri": "--jwks-uri", "jwks": "--jwks-file",
	"backchannel_logout_uri": "--backchannel-logout-uri", "backchannel_logout_session_required": "--backchannel-logout-session-required",
	"resources": "--resource",
}

// flagErrors rewrites a validation error to name flags; other errors pass unchanged.
func flagErrors(err error) error {
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	problems := make([]error, len(ve.Problems))
	for i, p := range ve.Problems {
		label := flagOf[p.Field]
		if label == "" {
			label = p.Field
		}
		problems[i] = errors.New(p.Text(label))
	}
	return errors.Join(problems...)
}

const clientUsage = "usage: myaccount client create|update|list|show|delete|rotate-secret|registration-token"

func cmdClient(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New(clientUsage)
	}
	if groupHelp(e, "client", clientUsage, args[0]) {
		return nil
	}
	switch args[0] {
	case "create":
		return clientCreate(ctx, e, args[1:])
	case "update":
		return clientUpdate(ctx, e, args[1:])
	case "list", "show", "delete", "rotate-secret":
		return clientOther(ctx, e, args[0], args[1:])
	case "registration-token":
		return clientRegistrationToken(ctx, e, args[1:])
	default:
		return fmt.Errorf("unknown client command %q", args[0])
	}
}

// clientView is how a client is printed (never its secret hash).
type clientView struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	admin.ClientSpec
	CreatedAt string `json:"created_at"`
}

func viewClient(c *admin.Client) clientView {
	return clientView{ClientID: c.ClientID, ClientSpec: c.ClientSpec, CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339)}
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
	alg := fs.String("id-token-alg", "RS256", "ID token signing algorithm: "+strings.Join(keys.AlgorithmNames(), " | "))
	requireMFA := fs.Bool("require-mfa", false, "require two-step verification for sign-ins to this client")
	meta := addMetaFlags(fs)
	authMethod := fs.String("token-endpoint-auth-method", "", "private_key_jwt to authenticate with signed assertions (RFC 7523) instead of a secret; needs --jwks-uri or --jwks-file")
	pf := addProtocolFlags(fs)
	key := fs.String("idempotency-key", "", "a key of the script's own: run again with it and the same flags within 24 hours (its output lost), the command prints the client it created, with a new secret, instead of creating a second one")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	proto, err := pf.protocol(e)
	if err != nil {
		return err
	}
	proto.TokenEndpointAuthMethod = *authMethod
	// The consent-page flags are checked with the rest, so every problem is told at once.
	mc := &storage.Client{}
	meta.apply(fs, mc)
	spec := admin.ClientSpec{Name: *name, Type: *typ, RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
		GrantTypes: grants, Scopes: scopes, FirstParty: *firstParty, AccessTokenFormat: *format, IDTokenAlg: *alg,
		RequireMFA: *requireMFA, LogoURI: mc.LogoURI, ClientURI: mc.ClientURI, PolicyURI: mc.PolicyURI, TosURI: mc.TosURI,
		Protocol: proto}
	if _, err := admin.NewClient(spec, time.Now()); err != nil {
		return flagErrors(err) // before opening the store: a typo needs no database
	}
	svc, st, err := adminService(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	c, sec, err := svc.CreateClientOnce(ctx, admin.CLI(), spec, *key)
	if errors.Is(err, admin.ErrKeyReused) {
		return fmt.Errorf("create client: --idempotency-key %q was used for other flags, more than 24 hours ago, or for a client deleted since: choose another key", *key)
	}
	if err != nil {
		return fmt.Errorf("create client: %w", flagErrors(err))
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]string{"client_id": c.ClientID, "client_secret": sec})
	}
	fmt.Fprintf(e.stdout, "client_id:     %s\n", c.ClientID)
	if sec != "" {
		fmt.Fprintf(e.stdout, "client_secret: %s\n(the secret is shown only now; only its hash is stored)\n", sec)
	}
	return nil
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

// check validates the flags given on the command line (the service's rules).
func (m *metaFlags) check() error {
	var p admin.ClientPatch
	for _, f := range m.flags {
		v := *f.value
		switch f.name {
		case "logo-uri":
			p.LogoURI = &v
		case "client-uri":
			p.ClientURI = &v
		case "policy-uri":
			p.PolicyURI = &v
		case "tos-uri":
			p.TosURI = &v
		}
	}
	return flagErrors(admin.CheckPatch(p))
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
	pf := addProtocolFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: myaccount client update CLIENT_ID [--logo-uri URL] [--client-uri URL] [--policy-uri URL] [--tos-uri URL] [--jwks-uri URL | --jwks-file FILE] [--backchannel-logout-uri URL] [--backchannel-logout-session-required[=false]] [--require-par[=false]] [--dpop-bound-access-tokens[=false]] [--resource URI ...] [--json]")
	}
	if err := meta.check(); err != nil {
		return err
	}
	var p admin.ClientPatch
	protoChanged, err := pf.patch(e, &p)
	if err != nil {
		return err
	}
	if !meta.apply(fs, &storage.Client{}) && !protoChanged {
		return errors.New("nothing to update: give --logo-uri, --client-uri, --policy-uri, --tos-uri or a protocol setting (see --help)")
	}
	var given storage.Client
	meta.apply(fs, &given)
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "logo-uri":
			p.LogoURI = &given.LogoURI
		case "client-uri":
			p.ClientURI = &given.ClientURI
		case "policy-uri":
			p.PolicyURI = &given.PolicyURI
		case "tos-uri":
			p.TosURI = &given.TosURI
		}
	})
	svc, st, err := adminService(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := svc.UpdateClient(ctx, admin.CLI(), pos[0], "", p)
	if err != nil {
		return fmt.Errorf("update client %q: %w", pos[0], flagErrors(err))
	}
	if *asJSON {
		return printJSON(e.stdout, viewClient(c))
	}
	return printFields(e.stdout, viewClient(c))
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
	svc, st, err := adminService(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	cli := admin.CLI()
	switch sub {
	case "list":
		cs, err := svc.ListClients(ctx, cli)
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
		c, err := svc.GetClient(ctx, cli, pos[0])
		if err != nil {
			return fmt.Errorf("client %q: %w", pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, viewClient(c))
		}
		return printFields(e.stdout, viewClient(c))
	case "delete":
		if err := svc.DeleteClient(ctx, cli, pos[0], ""); err != nil {
			return fmt.Errorf("delete client %q: %w", pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]any{"client_id": pos[0], "deleted": true})
		}
		fmt.Fprintf(e.stdout, "client %s deleted\n", pos[0])
		return nil
	default: // rotate-secret
		sec, err := svc.RotateSecret(ctx, cli, pos[0])
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
