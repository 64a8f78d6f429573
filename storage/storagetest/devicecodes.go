package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var deviceCodeTests = []test{
	{"create and get round-trip; user code unique", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		dc := newDeviceCode("dh1", "BCDFGHJK", "c1")
		dc.State = ""
		must(t, s.CreateDeviceCode(ctx(t), dc))
		equal(t, "default state", dc.State, storage.DevicePending)
		got, err := s.GetDeviceCode(ctx(t), "dh1")
		must(t, err)
		equal(t, "GetDeviceCode", got, stored(dc))
		got, err = s.GetDeviceCodeByUserCode(ctx(t), "BCDFGHJK")
		must(t, err)
		equal(t, "GetDeviceCodeByUserCode", got, stored(dc))
		wantErr(t, s.CreateDeviceCode(ctx(t), newDeviceCode("dh2", "BCDFGHJK", "c1")), storage.ErrConflict)
		_, err = s.GetDeviceCode(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetDeviceCodeByUserCode(ctx(t), "NOPE")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"approve, poll, consume once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		dc := newDeviceCode("dh1", "BCDFGHJK", "c1")
		must(t, s.CreateDeviceCode(ctx(t), dc))

		t1, t2 := base().Add(5*time.Second), base().Add(10*time.Second)
		got, prev, err := s.PollDeviceCode(ctx(t), "dh1", t1)
		must(t, err)
		equal(t, "first poll's previous poll", prev, (*time.Time)(nil))
		equal(t, "state while pending", got.State, storage.DevicePending)
		equal(t, "LastPolledAt returned", got.LastPolledAt, ptr(ms(t1)))
		_, _, err = s.ConsumeDeviceCode(ctx(t), "dh1", "g1", t1, 0)
		wantErr(t, err, storage.ErrNotFound) // pending: nothing to consume yet

		authTime := base().Add(-time.Minute)
		must(t, s.DecideDeviceCode(ctx(t), "BCDFGHJK", storage.DeviceApproved, "u1", authTime, []string{"pwd", "otp"}, t1))
		// Decided once: a second answer does not match.
		wantErr(t, s.DecideDeviceCode(ctx(t), "BCDFGHJK", storage.DeviceDenied, "u1", authTime, nil, t1), storage.ErrNotFound)

		got, prev, err = s.PollDeviceCode(ctx(t), "dh1", t2)
		must(t, err)
		equal(t, "previous poll", prev, ptr(ms(t1)))
		want := stored(dc)
		want.State, want.UserID, want.AuthTime, want.AMR = storage.DeviceApproved, "u1", ms(authTime), []string{"pwd", "otp"}
		want.LastPolledAt = ptr(ms(t2))
		equal(t, "polled approved code", got, want)

		got, replaced, err := s.ConsumeDeviceCode(ctx(t), "dh1", "g1", t2, 0)
		must(t, err)
		equal(t, "grant a first use replaced", replaced, "")
		want.ConsumedAt, want.GrantID = ptr(ms(t2)), "g1"
		equal(t, "consumed code", got, want)
		again, _, err := s.ConsumeDeviceCode(ctx(t), "dh1", "g2", t2, 0)
		wantErr(t, err, storage.ErrAlreadyUsed)
		equal(t, "code returned with ErrAlreadyUsed", again, want)
	}},
	{"deny, expiry, unknown", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		denied, expired := newDeviceCode("dh1", "AAAA", "c1"), newDeviceCode("dh2", "BBBB", "c1")
		must(t, s.CreateDeviceCode(ctx(t), denied))
		must(t, s.CreateDeviceCode(ctx(t), expired))
		must(t, s.DecideDeviceCode(ctx(t), "AAAA", storage.DeviceDenied, "u1", base(), nil, base()))
		got, err := s.GetDeviceCode(ctx(t), "dh1")
		must(t, err)
		equal(t, "state", got.State, storage.DeviceDenied)
		_, _, err = s.ConsumeDeviceCode(ctx(t), "dh1", "g1", base(), time.Minute)
		wantErr(t, err, storage.ErrNotFound)

		wantErr(t, s.DecideDeviceCode(ctx(t), "BBBB", storage.DeviceApproved, "u1", base(), nil, expired.ExpiresAt), storage.ErrNotFound)
		wantErr(t, s.DecideDeviceCode(ctx(t), "CCCC", storage.DeviceApproved, "u1", base(), nil, base()), storage.ErrNotFound)
		if err := s.DecideDeviceCode(ctx(t), "BBBB", "maybe", "u1", base(), nil, base()); err == nil {
			t.Fatal("DecideDeviceCode accepted state \"maybe\"")
		}
		// Approved in time, redeemed too late.
		must(t, s.DecideDeviceCode(ctx(t), "BBBB", storage.DeviceApproved, "u1", base(), nil, base()))
		_, _, err = s.ConsumeDeviceCode(ctx(t), "dh2", "g2", expired.ExpiresAt, time.Minute)
		wantErr(t, err, storage.ErrExpired)
		_, _, err = s.ConsumeDeviceCode(ctx(t), "nope", "g3", base(), time.Minute)
		wantErr(t, err, storage.ErrNotFound)
		_, _, err = s.PollDeviceCode(ctx(t), "nope", base())
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"deleting the approving user or the client deletes the code", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateClient(ctx(t), newClient("c2")))
		must(t, s.CreateDeviceCode(ctx(t), newDeviceCode("dh1", "AAAA", "c1")))
		must(t, s.CreateDeviceCode(ctx(t), newDeviceCode("dh2", "BBBB", "c2")))
		must(t, s.DecideDeviceCode(ctx(t), "AAAA", storage.DeviceApproved, "u1", base(), nil, base()))
		must(t, s.DeleteUser(ctx(t), "u1"))
		_, err := s.GetDeviceCode(ctx(t), "dh1")
		wantErr(t, err, storage.ErrNotFound)
		must(t, s.DeleteClient(ctx(t), "c2"))
		_, err = s.GetDeviceCode(ctx(t), "dh2")
		wantErr(t, err, storage.ErrNotFound)
	}},
}
