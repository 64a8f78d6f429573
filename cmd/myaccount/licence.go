package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
)

const licenceUsage = "usage: myaccount licence issue|list|show|revoke|extend"

// cmdLicence: myaccount licence issue|list|show|revoke|extend (issue 14).
func cmdLicence(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New(licenceUsage)
	}
	if groupHelp(e, "licence", licenceUsage, args[0]) {
		return nil
	}
	switch args[0] {
	case "issue":
		return licenceIssue(ctx, e, args[1:])
	case "list":
		return licenceList(ctx, e, args[1:])
	case "show", "revoke", "extend":
		return licenceOne(ctx, e, args[0], args[1:])
	default:
		return fmt.Errorf("unknown licence command %q", args[0])
	}
}

func licenceService(st storage.Store) *licence.Service {
	return &licence.Service{Store: st, Guard: &guard.Guard{Store: st}, Log: slog.New(slog.DiscardHandler)}
}

func licenceIssue(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "licence issue")
	product := fs.String("product", "", "product id")
	seats := fs.Int("seats", 1, "devices per licence")
	days := fs.Int("days", 365, "term in days from redemption (0 = unlimited)")
	count := fs.Int("count", 1, "licences in the batch")
	reason := fs.String("reason", "", "why (kept in the audit log)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *product == "" {
		return errors.New("usage: myaccount licence issue --product ID [--seats N] [--days N] [--count N] [--json]")
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	batch, issued, err := licenceService(st).Issue(ctx, licence.IssueRequest{ProductID: *product, Seats: *seats,
		Days: *days, Count: *count}, licence.Meta{Actor: "cli", Reason: *reason})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, struct {
			Batch    string           `json:"batch"`
			Product  string           `json:"product"`
			Seats    int              `json:"seats"`
			Days     int              `json:"days"`
			Licences []licence.Issued `json:"licences"`
		}{batch, *product, *seats, *days, issued})
	}
	fmt.Fprintf(e.stderr, "batch %s: %d licences of %s, %d seats, %s; the codes are shown only now\n",
		batch, len(issued), *product, *seats, termText(*days))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCODE")
	for _, l := range issued {
		fmt.Fprintf(tw, "%s\t%s\n", l.ID, l.Code)
	}
	return tw.Flush()
}

func termText(days int) string {
	if days == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d days from redemption", days)
}

type activationView struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	Client string `json:"client"`
	Seat   int    `json:"seat"`
	Since  string `json:"since"`
}

type licenceView struct {
	ID          string           `json:"id"`
	Product     string           `json:"product"`
	Batch       string           `json:"batch"`
	Status      string           `json:"status"`
	Owner       string           `json:"owner,omitempty"`
	Seats       int              `json:"seats"`
	SeatsUsed   int              `json:"seats_used"`
	Days        int              `json:"days"`
	CreatedAt   string           `json:"created_at"`
	RedeemedAt  string           `json:"redeemed_at,omitempty"`
	ExpiresAt   string           `json:"expires_at,omitempty"`
	RevokedAt   string           `json:"revoked_at,omitempty"`
	Activations []activationView `json:"activations"`
}

func viewLicence(ctx context.Context, st storage.Store, v licence.View) licenceView {
	l := v.Licence
	t := func(x *time.Time) string {
		if x == nil {
			return ""
		}
		return x.UTC().Format(time.RFC3339)
	}
	status := v.Status
	if l.UserID == "" && status == storage.LicenceActive {
		status = "unredeemed"
	}
	out := licenceView{ID: l.ID, Product: l.ProductID, Batch: l.Batch, Status: status, Seats: l.Seats,
		SeatsUsed: v.SeatsUsed(), Days: l.Days, CreatedAt: l.CreatedAt.UTC().Format(time.RFC3339),
		RedeemedAt: t(l.RedeemedAt), ExpiresAt: t(l.ExpiresAt), RevokedAt: t(l.RevokedAt), Activations: []activationView{}}
	if l.UserID != "" {
		out.Owner = l.UserID
		if u, err := st.GetUser(ctx, l.UserID); err == nil {
			out.Owner = u.Email
		}
	}
	for _, a := range v.Activations {
		out.Activations = append(out.Activations, activationView{Device: a.DeviceID, Name: a.DeviceName, Client: a.ClientID,
			Seat: a.Seat, Since: a.CreatedAt.UTC().Format(time.RFC3339)})
	}
	return out
}

func licenceList(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "licence list")
	product := fs.String("product", "", "only this product's")
	batch := fs.String("batch", "", "only this batch")
	user := fs.String("user", "", "only this person's (email or id)")
	limit := fs.Int("limit", 1000, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return errors.New("usage: myaccount licence list [--product ID] [--batch ID] [--user EMAIL] [--json]")
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	q := storage.LicenceQuery{ProductID: *product, Batch: *batch, Limit: *limit}
	if *user != "" {
		u, err := findUser(ctx, st, *user)
		if err != nil {
			return err
		}
		q.UserID = u.ID
	}
	return printLicences(ctx, e, st, q, *asJSON)
}

func printLicences(ctx context.Context, e env, st storage.Store, q storage.LicenceQuery, asJSON bool) error {
	vs, err := licenceService(st).List(ctx, q)
	if err != nil {
		return err
	}
	views := make([]licenceView, 0, len(vs))
	for _, v := range vs {
		views = append(views, viewLicence(ctx, st, v))
	}
	if asJSON {
		return printJSON(e.stdout, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRODUCT\tSTATUS\tSEATS\tEXPIRES\tOWNER")
	for _, v := range views {
		exp := v.ExpiresAt
		if exp == "" {
			exp = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", v.ID, v.Product, v.Status, v.SeatsUsed, v.Seats, exp, v.Owner)
	}
	return tw.Flush()
}

func licenceOne(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "licence "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	reason := fs.String("reason", "", "why (kept in the audit log)")
	days := fs.Int("days", 0, "extend: days to add")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (sub == "extend" && *days < 1) {
		if sub == "extend" {
			return errors.New("usage: myaccount licence extend ID --days N [--reason TEXT] [--json]")
		}
		return fmt.Errorf("usage: myaccount licence %s ID [--json]", sub)
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := licenceService(st)
	m := licence.Meta{Actor: "cli", Reason: *reason}
	switch sub {
	case "revoke":
		_, err = svc.Revoke(ctx, pos[0], m)
	case "extend":
		_, err = svc.Extend(ctx, pos[0], *days, m)
	}
	if err != nil {
		return err
	}
	v, err := svc.Licence(ctx, pos[0])
	if err != nil {
		return err
	}
	lv := viewLicence(ctx, st, v)
	if *asJSON {
		return printJSON(e.stdout, lv)
	}
	if err := printFields(e.stdout, struct {
		licenceView
		Activations string `json:"activations"`
	}{lv, activationsText(lv.Activations)}); err != nil {
		return err
	}
	return nil
}

func activationsText(as []activationView) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("#%d %s (%s, %s)", a.Seat, a.Name, a.Client, a.Device)
	}
	return strings.Join(parts, "; ")
}

// userLicences: myaccount user licences EMAIL [--json].
func userLicences(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "user licences")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: myaccount user licences EMAIL|ID [--json]")
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	return printLicences(ctx, e, st, storage.LicenceQuery{UserID: u.ID}, *asJSON)
}
