package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

func TestRecentActivity(t *testing.T) {
	_, db := newService(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com", Status: storage.UserActive}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &storage.Client{ID: "cal", Name: "Calendar", Type: storage.ClientPublic}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, e := range []*storage.AuditEvent{
		{ID: "e1", Type: "login"},
		{ID: "e2", Type: "app_revoked", ClientID: "cal"},
		{ID: "e3", Type: "app_revoked", ClientID: "gone"},
	} {
		e.UserID, e.CreatedAt = "u1", t0.Add(time.Duration(i)*time.Minute)
		if err := db.AddAuditEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	fs := faultstore.New(db)
	s := &account.Service{Store: fs}
	got, err := s.RecentActivity(ctx, "u1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "e3" || got[1].ID != "e2" {
		t.Fatalf("got %d events, first %+v; want e3, e2", len(got), got)
	}
	if got[0].ClientName != "gone" || got[1].ClientName != "Calendar" {
		t.Errorf("client names = %q, %q; want gone, Calendar", got[0].ClientName, got[1].ClientName)
	}
	all, _ := s.RecentActivity(ctx, "u1", 10)
	if len(all) != 3 || all[2].ClientName != "" {
		t.Errorf("an event without a client: %+v", all)
	}

	// A failing database is an error, not an empty history.
	fs.Fail("GetClient")
	if _, err := s.RecentActivity(ctx, "u1", 10); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("RecentActivity = %v, want the injected failure", err)
	}
}

// TestActivityKeepsTheOrderOfOneMoment: events recorded at one moment (one request's, one
// transaction's) are listed newest first in the order they were written, not by chance
// (their ids are the store's, which sort as they were made).
func TestActivityKeepsTheOrderOfOneMoment(t *testing.T) {
	s, db := newService(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com", Status: storage.UserActive}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	types := []string{"login", "mfa_passed", "password_changed", "trusted_browsers_forgotten", "signed_out_everywhere",
		"mfa_added", "mfa_removed", "profile_updated", "email_changed", "device_signed_out"}
	for i, typ := range types {
		if i%2 == 0 {
			s.Audit(ctx, "u1", typ, account.Meta{}, "")
			continue
		}
		if err := db.InTx(ctx, func(tx storage.Store) error { return s.EventIn("u1", typ, account.Meta{}, "")(ctx, tx) }); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RecentActivity(ctx, "u1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range got {
		order = append(order, e.Type)
	}
	for i, j := 0, len(types)-1; i < j; i, j = i+1, j-1 {
		types[i], types[j] = types[j], types[i]
	}
	if strings.Join(order, " ") != strings.Join(types, " ") {
		t.Errorf("listed %v, want the reverse of the order written: %v", order, types)
	}
}

// countingRecorder counts the second steps recorded.
type countingRecorder struct{ passed, failed map[string]int }

func (countingRecorder) SignIn(string, string) {}
func (c countingRecorder) MFA(kind string, ok bool) {
	if ok {
		c.passed[kind]++
	} else {
		c.failed[kind]++
	}
}
func (countingRecorder) Lockout(string) {}

// TestSignInRecordsTheSecondStep: a sign-in that has just passed its second step records
// its "mfa_passed" event with its "login" one, in the session's transaction (and apart when
// that write failed), and counts the step once committed. Written after the commit on its
// own, a failure lost the event while the sign-in stood.
func TestSignInRecordsTheSecondStep(t *testing.T) {
	for _, apart := range []bool{false, true} {
		s, db := newService(t)
		ctx := context.Background()
		rec := countingRecorder{map[string]int{}, map[string]int{}}
		s.Metrics = rec
		u := &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com", Status: storage.UserActive}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		r := s.SignInRecords(ctx, account.SignedIn{User: u, Login: true, AMR: []string{"pwd", "otp"}, SecondStep: "totp"})
		if apart {
			r.WriteApart(ctx)
		} else if err := db.InTx(ctx, func(tx storage.Store) error { return r.Write(ctx, tx) }); err != nil {
			t.Fatal(err)
		}
		r.Committed(ctx)
		got, err := s.RecentActivity(ctx, "u1", 0)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, e := range got {
			order = append(order, e.Type+" "+e.Detail)
		}
		if strings.Join(order, ", ") != "login pwd otp, mfa_passed totp" {
			t.Errorf("apart %v: activity %q, want the login, then (before it) the second step", apart, order)
		}
		if rec.passed["totp"] != 1 || len(rec.failed) != 0 {
			t.Errorf("apart %v: counted %v passed, %v failed, want one totp passed", apart, rec.passed, rec.failed)
		}
	}
}
