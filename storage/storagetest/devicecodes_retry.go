package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// deviceGrace is the retry grace these tests give ConsumeDeviceCode.
const deviceGrace = 30 * time.Second

// approvedDevice returns world w (its grant is the one a first use of code "dh-"+suffix
// issued, at t1) with that code approved by w's user and consumed by w's grant.
func approvedDevice(t *testing.T, s storage.Store, suffix string, t1 time.Time) world {
	t.Helper()
	w := makeWorld(t, s, suffix)
	must(t, s.CreateDeviceCode(ctx(t), newDeviceCode("dh-"+suffix, "CODE"+suffix, w.client.ID)))
	must(t, s.DecideDeviceCode(ctx(t), "CODE"+suffix, storage.DeviceApproved, w.user.ID, base(), nil, base()))
	_, replaced, err := s.ConsumeDeviceCode(ctx(t), "dh-"+suffix, w.grant.ID, t1, deviceGrace)
	must(t, err)
	equal(t, "grant replaced by the first use", replaced, "")
	return w
}

// pollDevice is a poll of code "dh-"+suffix as the token endpoint makes it, for w's user and
// client: the code consumed and the new grant id with its refresh token stored in one
// transaction.
func pollDevice(t *testing.T, s storage.Store, w world, suffix, id string, now time.Time) (replaced string, err error) {
	err = s.InTx(ctx(t), func(tx storage.Store) error {
		var err error
		if _, replaced, err = tx.ConsumeDeviceCode(ctx(t), "dh-"+suffix, id, now, deviceGrace); err != nil {
			return err
		}
		g := newGrant(id, w.user.ID, w.client.ID)
		if err := tx.CreateGrant(ctx(t), g); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx(t), newRefresh("rt-"+id, g))
	})
	return replaced, err
}

// liveGrants lists the ids of the user's grants that are not revoked.
func liveGrants(t *testing.T, s storage.Store, userID string) []string {
	t.Helper()
	gs, err := s.ListGrants(ctx(t), userID)
	must(t, err)
	var live []string
	for _, g := range gs {
		if g.RevokedAt == nil {
			live = append(live, g.ID)
		}
	}
	return live
}

var deviceRetryTests = []test{
	{"a poll retried within the grace replaces the first use's grant; later, it is used", func(t *testing.T, s storage.Store) {
		t1 := base().Add(time.Minute)
		w := approvedDevice(t, s, "1", t1)
		replaced, err := pollDevice(t, s, w, "1", "retry1", t1.Add(10*time.Second))
		must(t, err)
		equal(t, "replaced", replaced, w.grant.ID)
		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash}, []string{w.access.IDHash})
		allAt(t, "first use's grant and tokens", t1.Add(10*time.Second), append(append(rts, ats...), g)...)
		dc, err := s.GetDeviceCode(ctx(t), "dh-1")
		must(t, err)
		equal(t, "code's grant", dc.GrantID, "retry1")
		equal(t, "consumed at (the window runs from the first use)", dc.ConsumedAt, ptr(ms(t1)))
		equal(t, "live grants", liveGrants(t, s, w.user.ID), []string{"retry1"})

		// Past the grace from the first use, however recent the retry.
		_, err = pollDevice(t, s, w, "1", "late", t1.Add(deviceGrace))
		wantErr(t, err, storage.ErrAlreadyUsed)
		equal(t, "live grants after a late poll", liveGrants(t, s, w.user.ID), []string{"retry1"})
	}},
	{"no retry once the device used its refresh token, or was signed out, or without a grace", func(t *testing.T, s storage.Store) {
		t1 := base().Add(time.Minute)
		used := approvedDevice(t, s, "1", t1)
		next := newRefresh("next", used.grant)
		next.GrantID, next.ParentID = "", ""
		must(t, s.RotateRefreshToken(ctx(t), used.refresh.Hash, next, t1.Add(time.Second), storage.RefreshGrace{}))
		_, err := pollDevice(t, s, used, "1", "retry1", t1.Add(2*time.Second))
		wantErr(t, err, storage.ErrAlreadyUsed)
		equal(t, "live grants (refresh token used)", liveGrants(t, s, used.user.ID), []string{used.grant.ID})

		out := approvedDevice(t, s, "2", t1)
		must(t, s.RevokeGrant(ctx(t), out.grant.ID, t1.Add(time.Second)))
		_, err = pollDevice(t, s, out, "2", "retry2", t1.Add(2*time.Second))
		wantErr(t, err, storage.ErrAlreadyUsed)
		equal(t, "live grants (signed out)", len(liveGrants(t, s, out.user.ID)), 0)

		none := approvedDevice(t, s, "3", t1)
		_, _, err = s.ConsumeDeviceCode(ctx(t), "dh-3", "retry3", t1.Add(time.Second), 0)
		wantErr(t, err, storage.ErrAlreadyUsed)
		for i, w := range []world{used, out, none} {
			dc, err := s.GetDeviceCode(ctx(t), fmt.Sprint("dh-", i+1))
			must(t, err)
			equal(t, "code's grant after a refused retry", dc.GrantID, w.grant.ID)
		}
	}},
	{"many retries at once: one live grant", func(t *testing.T, s storage.Store) {
		t1 := base().Add(time.Minute)
		w := approvedDevice(t, s, "1", t1)
		errs := race(racers, func(i int) error {
			_, err := pollDevice(t, s, w, "1", fmt.Sprint("retry", i), t1.Add(time.Second))
			return err
		})
		ok, _ := countErrs(t, errs, storage.ErrAlreadyUsed)
		if ok == 0 {
			t.Fatal("no retry succeeded")
		}
		live := liveGrants(t, s, w.user.ID)
		dc, err := s.GetDeviceCode(ctx(t), "dh-1")
		must(t, err)
		equal(t, "live grants", live, []string{dc.GrantID})
	}},
	{"retries racing the first grant's refresh: one live grant", func(t *testing.T, s storage.Store) {
		t1 := base().Add(time.Minute)
		w := approvedDevice(t, s, "1", t1)
		next := newRefresh("next", w.grant)
		next.GrantID, next.ParentID = "", ""
		errs := race(racers, func(i int) error {
			if i == 0 {
				return s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, t1.Add(time.Second), storage.RefreshGrace{})
			}
			_, err := pollDevice(t, s, w, "1", fmt.Sprint("retry", i), t1.Add(time.Second))
			return err
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) && !errors.Is(err, storage.ErrRevoked) {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		live := liveGrants(t, s, w.user.ID)
		if len(live) != 1 {
			t.Fatalf("live grants %v, want one", live)
		}
		if errs[0] == nil && live[0] != w.grant.ID {
			t.Errorf("the refresh in %s succeeded, yet %s is the live grant", w.grant.ID, live[0])
		}
	}},
}
