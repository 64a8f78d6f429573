package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// nextToken is a rotation successor; GrantID and ParentID are left for the store to fill.
func nextToken(id string, w world) *storage.RefreshToken {
	n := newRefresh(id, w.grant)
	n.GrantID, n.ParentID = "", ""
	return n
}

var refreshTests = []test{
	{"refresh token round-trips every field", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		rt := newRefresh("child", w.grant)
		rt.ParentID = w.refresh.ID
		rt.UsedAt, rt.RevokedAt = ptr(base().Add(time.Minute)), ptr(base().Add(2*time.Minute))
		must(t, s.CreateRefreshToken(ctx(t), rt))
		got, err := s.GetRefreshToken(ctx(t), rt.Hash)
		must(t, err)
		equal(t, "GetRefreshToken", got, stored(rt))
		got, err = s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		equal(t, "fresh token", got, stored(w.refresh))
		_, err = s.GetRefreshToken(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		dupHash := newRefresh("another", w.grant)
		dupHash.Hash = rt.Hash
		wantErr(t, s.CreateRefreshToken(ctx(t), dupHash), storage.ErrConflict)
		wantErr(t, s.RevokeRefreshToken(ctx(t), "nope", base()), storage.ErrNotFound)
	}},
	{"rotate marks old used, stores next and touches the grant", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		now := base().Add(time.Hour)
		next := nextToken("next", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, now))
		old, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		equal(t, "old UsedAt", old.UsedAt, ptr(ms(now)))
		noneRevoked(t, "old", old.RevokedAt)
		got, err := s.GetRefreshToken(ctx(t), next.Hash)
		must(t, err)
		want := stored(next)
		want.GrantID, want.ParentID = w.grant.ID, w.refresh.ID
		equal(t, "next token", got, want)
		g, err := s.GetGrant(ctx(t), w.grant.ID)
		must(t, err)
		equal(t, "grant LastUsedAt", g.LastUsedAt, ms(now))
		noneRevoked(t, "grant", g.RevokedAt)

		// The chain continues from next.
		must(t, s.RotateRefreshToken(ctx(t), next.Hash, nextToken("third", w), now.Add(time.Minute)))
	}},
	{"rotate into another grant fails and changes nothing", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		o := makeWorld(t, s, "2")
		next := newRefresh("next", o.grant)
		if err := s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, base()); err == nil {
			t.Fatal("rotating into another grant succeeded")
		}
		old, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		noneRevoked(t, "old UsedAt", old.UsedAt)
		_, err = s.GetRefreshToken(ctx(t), next.Hash)
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"rotate with a conflicting next rolls back", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		next := nextToken("next", w)
		next.Hash = w.refresh.Hash // collides with the old token itself
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, base()), storage.ErrConflict)
		old, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		noneRevoked(t, "old UsedAt after rollback", old.UsedAt)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("ok", w), base()))
	}},
	{"reuse revokes the whole family", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		o := makeWorld(t, s, "2")
		t1 := base().Add(time.Hour)
		next := nextToken("next", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, t1))
		at2 := newAccess("issued-with-next", w.grant)
		must(t, s.CreateAccessToken(ctx(t), at2))

		t2 := t1.Add(time.Minute)
		stolen := nextToken("stolen", w)
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, stolen, t2), storage.ErrAlreadyUsed)

		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash, next.Hash}, []string{w.access.IDHash, at2.IDHash})
		allAt(t, "family after reuse", t2, append(append(rts, ats...), g)...)
		_, err := s.GetRefreshToken(ctx(t), stolen.Hash)
		wantErr(t, err, storage.ErrNotFound)
		// The legitimate holder's token is dead too.
		wantErr(t, s.RotateRefreshToken(ctx(t), next.Hash, nextToken("later", w), t2.Add(time.Minute)), storage.ErrRevoked)
		// Reuse again is still reported as reuse.
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("again", w), t2.Add(time.Minute)), storage.ErrAlreadyUsed)
		g, rts, ats = revokedAt(t, s, o.grant.ID, []string{o.refresh.Hash}, []string{o.access.IDHash})
		noneRevoked(t, "other family", append(append(rts, ats...), g)...)
	}},
	{"revoked, expired and unknown tokens do not rotate", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1") // refresh token expires at base()+30d
		wantErr(t, s.RotateRefreshToken(ctx(t), "nope", nextToken("n0", w), base()), storage.ErrNotFound)

		expiry := base().Add(30 * 24 * time.Hour)
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("n1", w), expiry), storage.ErrExpired)

		must(t, s.RevokeRefreshToken(ctx(t), w.refresh.Hash, base()))
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("n2", w), base()), storage.ErrRevoked)
		g, _, ats := revokedAt(t, s, w.grant.ID, nil, []string{w.access.IDHash})
		noneRevoked(t, "grant and access token after revoking one refresh token", append(ats, g)...)

		rt := newRefresh("second", w.grant)
		must(t, s.CreateRefreshToken(ctx(t), rt))
		must(t, s.RevokeGrant(ctx(t), w.grant.ID, base()))
		wantErr(t, s.RotateRefreshToken(ctx(t), rt.Hash, nextToken("n3", w), base()), storage.ErrRevoked)

		for _, id := range []string{"n0", "n1", "n2", "n3"} {
			_, err := s.GetRefreshToken(ctx(t), "hash-"+id)
			wantErr(t, err, storage.ErrNotFound)
		}
		for _, h := range []string{w.refresh.Hash, rt.Hash} {
			got, err := s.GetRefreshToken(ctx(t), h)
			must(t, err)
			noneRevoked(t, "UsedAt of a token that failed to rotate", got.UsedAt)
		}
	}},
}
