package sms_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func TestWebhookSignedAndTwilio(t *testing.T) {
	t.Parallel()
	secret := []byte("webhook secret")
	g := smstest.New(t, secret, "AC123", "token")
	ctx := t.Context()
	m := sms.Message{ID: "m1", To: "+4930123456", Body: "hello\n\n@id.example.com #123456"}
	if err := (&sms.Webhook{URL: g.URL + "/hook", Secret: secret}).Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := g.Wait(t); got != m {
		t.Fatalf("webhook delivered %+v, want %+v", got, m)
	}
	if err := (&sms.Webhook{URL: g.URL + "/hook", Secret: []byte("wrong")}).Send(ctx, m); err == nil || g.BadSignatures() != 1 {
		t.Fatalf("a wrongly signed request: err %v, refused %d", err, g.BadSignatures())
	}
	old := func() time.Time { return time.Now().Add(-time.Hour) }
	if err := (&sms.Webhook{URL: g.URL + "/hook", Secret: secret, Now: old}).Send(ctx, m); err == nil {
		t.Fatal("an hour-old signature was accepted")
	}
	tw := &sms.Twilio{BaseURL: g.URL, AccountSID: "AC123", AuthToken: "token", From: "+15005550006"}
	if err := tw.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := g.Wait(t); got.To != m.To || got.Body != m.Body {
		t.Fatalf("twilio delivered %+v", got)
	}
	tw.AuthToken = "wrong"
	if err := tw.Send(ctx, m); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	g.FailNext(1)
	if err := (&sms.Webhook{URL: g.URL + "/hook", Secret: secret}).Send(ctx, m); err == nil {
		t.Fatal("a 503 was taken for delivery")
	}
}

type texts struct{}

func (texts) T(_ string, msg string, args ...any) string { return fmt.Sprintf(msg, args...) }

type queue struct{ n int }

func (q *queue) Enqueue(context.Context, string, []byte) error { q.n++; return nil }

func newService(t *testing.T, l sms.Limits, countries ...string) (*sms.Service, *queue) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := &queue{}
	return &sms.Service{Outbox: q, Guard: &guard.Guard{Store: db}, Limits: l, Countries: countries,
		Host: "id.example.com", Product: "Example", Texts: texts{}}, q
}

func TestBody(t *testing.T) {
	s, _ := newService(t, sms.Limits{})
	got := s.Body(phone.Code{Code: "123456", Purpose: phone.PurposeSignIn})
	want := "Example sign-in code: 123456. Do not share it.\n\n@id.example.com #123456"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLimits: each limit refuses with the same error once reached; the others still count.
func TestLimits(t *testing.T) {
	t.Parallel()
	code := func(user, to, ip string) phone.Code {
		return phone.Code{UserID: user, To: to, IP: ip, Code: "123456", Expires: time.Now().Add(time.Minute)}
	}
	wide := sms.Limits{PerNumber: 100, PerAccount: 100, PerIP: 100, PerCountry: 100, HourlyBudget: 100}
	tests := []struct {
		name   string
		limits func(*sms.Limits)
		next   func(i int) phone.Code // the i-th send; the third is refused
	}{
		{"per number", func(l *sms.Limits) { l.PerNumber = 2 },
			func(i int) phone.Code { return code(fmt.Sprint("u", i), "+4930123456", fmt.Sprint("192.0.2.", i)) }},
		{"per account", func(l *sms.Limits) { l.PerAccount = 2 },
			func(i int) phone.Code { return code("u1", fmt.Sprint("+493012345", i), fmt.Sprint("192.0.2.", i)) }},
		{"per ip", func(l *sms.Limits) { l.PerIP = 2 },
			func(i int) phone.Code { return code(fmt.Sprint("u", i), fmt.Sprint("+493012345", i), "192.0.2.1") }},
		{"per country", func(l *sms.Limits) { l.PerCountry = 2 },
			func(i int) phone.Code {
				return code(fmt.Sprint("u", i), fmt.Sprint("+493012345", i), fmt.Sprint("192.0.2.", i))
			}},
		{"hourly budget", func(l *sms.Limits) { l.HourlyBudget = 2 },
			func(i int) phone.Code {
				return code(fmt.Sprint("u", i), fmt.Sprint("+493012345", i), fmt.Sprint("192.0.2.", i))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := wide
			tc.limits(&l)
			s, q := newService(t, l, "DE")
			for i := range 3 {
				err := s.SendCode(t.Context(), tc.next(i))
				if i < 2 && err != nil {
					t.Fatalf("send %d: %v", i+1, err)
				}
				if i == 2 && !errors.Is(err, sms.ErrRefused) {
					t.Fatalf("send over the limit: %v", err)
				}
			}
			if q.n != 2 {
				t.Fatalf("queued %d, want 2", q.n)
			}
		})
	}
	t.Run("country not allowed", func(t *testing.T) {
		t.Parallel()
		s, q := newService(t, wide, "DE", "AT")
		if err := s.SendCode(t.Context(), code("u1", "+442079460958", "192.0.2.1")); !errors.Is(err, sms.ErrRefused) {
			t.Fatalf("GB number: %v", err)
		}
		if q.n != 0 {
			t.Fatal("queued")
		}
	})
}
