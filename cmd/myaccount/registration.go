package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/registration"
)

// clientRegistrationToken issues an initial access token for dynamic client registration
// (RFC 7591 §3): whoever holds it may register up to --uses clients before --ttl passes.
func clientRegistrationToken(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "client registration-token")
	uses := fs.Int("uses", 1, fmt.Sprintf("how many clients the token may register (1..%d)", registration.MaxUses))
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid (at most 720h)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return errors.New("usage: myaccount client registration-token [--uses N] [--ttl DURATION] [--json]")
	}
	cfg, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &registration.Service{Store: st}
	tok, exp, err := svc.IssueInitialToken(ctx, "cli", *uses, *ttl)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"initial_access_token": tok, "uses": *uses, "expires_at": exp.Format(time.RFC3339)})
	}
	fmt.Fprintf(e.stdout, "initial_access_token: %s\nuses: %d\nexpires_at: %s\n", tok, *uses, exp.Format(time.RFC3339))
	if !cfg.Registration.Enabled {
		fmt.Fprintln(e.stderr, "note: registration.enabled is false; the token works once it is turned on")
	}
	fmt.Fprintln(e.stdout, "(shown only now; only its hash is stored)")
	return nil
}
