package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// revokedAt fetches the revocation times of a grant and the given tokens.
func revokedAt(t *testing.T, s storage.Store, grantID string, refreshHashes, accessHashes []string) (grant *time.Time, refresh, access []*time.Time) {
	t.Helper()
	g, err := s.GetGrant(ctx(t), grantID)
	must(t, err)
	for _, h := range refreshHashes {
		rt, err := s.GetRefreshToken(ctx(t), h)
		must(t, err)
		refresh = append(refresh, rt.RevokedAt)
	}
	for _, h := range accessHashes {
		at, err := s.GetAccessToken(ctx(t), h)
		must(t, err)
		access = append(access, at.RevokedAt)
	}
	return g.RevokedAt, refresh, access
}

// allAt fails unless every time is non-nil and equal to want.
func allAt(t *testing.T, what string, want time.Time, times ...*time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm == nil || !tm.Equal(ms(want)) {
			t.Fatalf("%s[%d] revoked at %v, want %v", what, i, tm, ms(want))
		}
	}
}

// noneRevoked fails unless every time is nil.
func noneRevoked(t *testing.T, what string, times ...*time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm != nil {
			t.Fatalf("%s[%d] revoked at %v, want not revoked", what, i, tm)
		}
	}
}

var grantTests = []test{
	{"grant round-trips every field", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		got, err := s.GetGrant(ctx(t), w.grant.ID)
		must(t, err)
		equal(t, "GetGrant", got, stored(w.grant))
		_, err = s.GetGrant(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		wantErr(t, s.CreateGrant(ctx(t), newGrant(w.grant.ID, w.user.ID, w.client.ID)), storage.ErrConflict)
	}},
	{"client credentials grant has no user and no auth time", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		g := newGrant("g1", "", "c1")
		g.AuthTime, g.AMR, g.SessionID, g.LastUsedAt = time.Time{}, nil, "", time.Time{}
		must(t, s.CreateGrant(ctx(t), g))
		equal(t, "LastUsedAt defaulted to CreatedAt", g.LastUsedAt, g.CreatedAt)
		got, err := s.GetGrant(ctx(t), "g1")
		must(t, err)
		equal(t, "GetGrant", got, stored(g))
		at := &storage.AccessToken{IDHash: "cc", ClientID: "c1", Subject: "c1", CreatedAt: base(), ExpiresAt: base().Add(time.Hour)}
		must(t, s.CreateAccessToken(ctx(t), at))
		gotAT, err := s.GetAccessToken(ctx(t), "cc")
		must(t, err)
		equal(t, "standalone access token", gotAT, stored(at))
	}},
	{"list grants is per user, newest first", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		newer := newGrant("newer", w.user.ID, w.client.ID)
		newer.CreatedAt = base().Add(time.Hour)
		must(t, s.CreateGrant(ctx(t), newer))
		makeWorld(t, s, "2")
		got, err := s.ListGrants(ctx(t), w.user.ID)
		must(t, err)
		equal(t, "ListGrants", got, []*storage.Grant{stored(newer), stored(w.grant)})
	}},
	{"access token round-trips and revokes once", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		got, err := s.GetAccessToken(ctx(t), w.access.IDHash)
		must(t, err)
		equal(t, "GetAccessToken", got, stored(w.access))
		wantErr(t, s.CreateAccessToken(ctx(t), newAccess("at1", w.grant)), storage.ErrConflict)
		_, err = s.GetAccessToken(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		wantErr(t, s.RevokeAccessToken(ctx(t), "nope", base()), storage.ErrNotFound)

		must(t, s.RevokeAccessToken(ctx(t), w.access.IDHash, base()))
		must(t, s.RevokeAccessToken(ctx(t), w.access.IDHash, base().Add(time.Hour)))
		got, err = s.GetAccessToken(ctx(t), w.access.IDHash)
		must(t, err)
		equal(t, "RevokedAt", got.RevokedAt, ptr(ms(base())))
		g, rt, _ := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash}, nil)
		noneRevoked(t, "grant and refresh token", append(rt, g)...)
	}},
	{"revoke grant revokes its tokens and nothing else", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		rt2 := newRefresh("rt1b", w.grant)
		must(t, s.CreateRefreshToken(ctx(t), rt2))
		other := newGrant("other", w.user.ID, w.client.ID)
		must(t, s.CreateGrant(ctx(t), other))
		otherRT, otherAT := newRefresh("ort", other), newAccess("oat", other)
		must(t, s.CreateRefreshToken(ctx(t), otherRT))
		must(t, s.CreateAccessToken(ctx(t), otherAT))

		now := base().Add(time.Hour)
		must(t, s.RevokeGrant(ctx(t), w.grant.ID, now))
		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash, rt2.Hash}, []string{w.access.IDHash})
		allAt(t, "revoked family", now, append(append(rts, ats...), g)...)
		g, rts, ats = revokedAt(t, s, other.ID, []string{otherRT.Hash}, []string{otherAT.IDHash})
		noneRevoked(t, "other grant", append(append(rts, ats...), g)...)

		must(t, s.RevokeGrant(ctx(t), w.grant.ID, now.Add(time.Hour)))
		g, _, _ = revokedAt(t, s, w.grant.ID, nil, nil)
		allAt(t, "grant revoked twice", now, g)
		wantErr(t, s.RevokeGrant(ctx(t), "nope", now), storage.ErrNotFound)
	}},
	{"revoke user client grants", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1") // user1 at client1
		c2 := newClient("client2")
		must(t, s.CreateClient(ctx(t), c2))
		g2 := newGrant("g2", w.user.ID, c2.ID) // user1 at client2
		must(t, s.CreateGrant(ctx(t), g2))
		rt2, at2 := newRefresh("rt2x", g2), newAccess("at2x", g2)
		must(t, s.CreateRefreshToken(ctx(t), rt2))
		must(t, s.CreateAccessToken(ctx(t), at2))
		o := makeWorld(t, s, "o") // another user

		now := base().Add(time.Hour)
		must(t, s.RevokeUserClientGrants(ctx(t), w.user.ID, c2.ID, now))
		g, rts, ats := revokedAt(t, s, g2.ID, []string{rt2.Hash}, []string{at2.IDHash})
		allAt(t, "user1 at client2", now, append(append(rts, ats...), g)...)
		g, rts, ats = revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash}, []string{w.access.IDHash})
		noneRevoked(t, "user1 at client1", append(append(rts, ats...), g)...)

		later := now.Add(time.Hour)
		must(t, s.RevokeUserClientGrants(ctx(t), w.user.ID, "", later))
		g, rts, ats = revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash}, []string{w.access.IDHash})
		allAt(t, "user1 at client1", later, append(append(rts, ats...), g)...)
		g, _, _ = revokedAt(t, s, g2.ID, nil, nil)
		allAt(t, "user1 at client2 keeps its first revocation", now, g)
		g, rts, ats = revokedAt(t, s, o.grant.ID, []string{o.refresh.Hash}, []string{o.access.IDHash})
		noneRevoked(t, "other user", append(append(rts, ats...), g)...)

		must(t, s.RevokeUserClientGrants(ctx(t), "nobody", "", later)) // nothing to do is fine
	}},
}
