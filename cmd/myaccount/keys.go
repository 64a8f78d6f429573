package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/keys"
)

const keysUsage = "usage: myaccount keys list|rotate|new-master-key"

func cmdKeys(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	if groupHelp(e, "keys", keysUsage, args[0]) {
		return nil
	}
	sub := args[0]
	fs, path := newFlags(e, "keys "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	var reason *string
	if sub == "rotate" {
		reason = reasonFlag(fs)
	}
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	if sub == "new-master-key" {
		// Printed, not stored: the operator puts it into MYACCOUNT_MASTER_KEY or a file.
		fmt.Fprintln(e.stdout, keys.NewMasterKey())
		return nil
	}
	if sub != "list" && sub != "rotate" {
		return fmt.Errorf("unknown keys command %q", sub)
	}
	cfg, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	configured, err := cfg.MasterKeyBytes()
	if err != nil {
		return err
	}
	// Generated only for a database that holds no keys yet; never next to existing ones.
	mk, _, err := keys.ResolveMasterKey(ctx, configured, cfg.DataDir, st)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	km, err := server.NewKeyManager(cfg, st, mk, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	if sub == "rotate" {
		// The admin service's rotation, as the console's: the new keys and the audit event
		// (actor "cli") commit together.
		k := &admin.Keys{Service: &admin.Service{Store: st}, Manager: km}
		if _, err := k.Rotate(ctx, admin.CLI(), *reason); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	ks, err := km.List(ctx)
	if err != nil {
		return err
	}
	type keyView struct {
		KID         string `json:"kid"`
		Alg         string `json:"alg"`
		State       string `json:"state"`
		CreatedAt   string `json:"created_at"`
		ActivatedAt string `json:"activated_at,omitempty"`
		RetiredAt   string `json:"retired_at,omitempty"`
		DeleteAfter string `json:"delete_after,omitempty"`
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	views := make([]keyView, 0, len(ks))
	for _, k := range ks {
		views = append(views, keyView{KID: k.ID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339),
			ActivatedAt: ts(k.ActivatedAt), RetiredAt: ts(k.RetiredAt), DeleteAfter: ts(k.DeleteAfter)})
	}
	if *asJSON {
		return printJSON(e.stdout, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tDELETE AFTER")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.KID, v.Alg, v.State, v.CreatedAt, v.ActivatedAt, v.RetiredAt, v.DeleteAfter)
	}
	return tw.Flush()
}
