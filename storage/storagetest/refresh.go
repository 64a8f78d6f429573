package storagetest

import (
	"errors"
	"fmt"
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

// noGrace allows no retry: a used token is always reuse.
var noGrace = storage.RefreshGrace{}

// liveTokens returns which of the hashes name a live token (neither used nor revoked).
func liveTokens(t *testing.T, s storage.Store, hashes ...string) []string {
	t.Helper()
	var live []string
	for _, h := range hashes {
		rt, err := s.GetRefreshToken(ctx(t), h)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		must(t, err)
		if rt.UsedAt == nil && rt.RevokedAt == nil {
			live = append(live, h)
		}
	}
	return live
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
	{"refresh token, grant and user in one read", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		must(t, s.RevokeRefreshToken(ctx(t), w.refresh.Hash, base().Add(time.Minute)))
		rt, g, u, err := s.GetRefreshTokenGrant(ctx(t), w.refresh.Hash)
		must(t, err)
		wantRT, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		equal(t, "token", rt, wantRT)
		wantG, err := s.GetGrant(ctx(t), w.grant.ID)
		must(t, err)
		equal(t, "grant", g, wantG)
		wantU, err := s.GetUser(ctx(t), w.user.ID)
		must(t, err)
		equal(t, "user", u, wantU)
		_, _, _, err = s.GetRefreshTokenGrant(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		// Another world's token gets its own grant and user.
		w2 := makeWorld(t, s, "2")
		_, g, u, err = s.GetRefreshTokenGrant(ctx(t), w2.refresh.Hash)
		must(t, err)
		if g.ID != w2.grant.ID || u.ID != w2.user.ID {
			t.Fatalf("second token: grant %q user %q, want %q and %q", g.ID, u.ID, w2.grant.ID, w2.user.ID)
		}
		// A grant without a person (as a machine's) gives its token no user: not found.
		machine := newGrant("machine-grant", "", w.client.ID)
		must(t, s.CreateGrant(ctx(t), machine))
		orphan := newRefresh("machine-rt", machine)
		orphan.UserID = ""
		must(t, s.CreateRefreshToken(ctx(t), orphan))
		_, _, _, err = s.GetRefreshTokenGrant(ctx(t), orphan.Hash)
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"rotate marks old used, stores next and touches the grant", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		now := base().Add(time.Hour)
		next := nextToken("next", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, now, noGrace))
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
		must(t, s.RotateRefreshToken(ctx(t), next.Hash, nextToken("third", w), now.Add(time.Minute), noGrace))
	}},
	{"rotate into another grant fails and changes nothing", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		o := makeWorld(t, s, "2")
		next := newRefresh("next", o.grant)
		if err := s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, base(), noGrace); err == nil {
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
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, base(), noGrace), storage.ErrConflict)
		old, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		noneRevoked(t, "old UsedAt after rollback", old.UsedAt)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("ok", w), base(), noGrace))
	}},
	{"reuse revokes the whole family", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		o := makeWorld(t, s, "2")
		t1 := base().Add(time.Hour)
		next := nextToken("next", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, t1, noGrace))
		at2 := newAccess("issued-with-next", w.grant)
		must(t, s.CreateAccessToken(ctx(t), at2))

		t2 := t1.Add(time.Minute)
		stolen := nextToken("stolen", w)
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, stolen, t2, noGrace), storage.ErrAlreadyUsed)

		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash, next.Hash}, []string{w.access.IDHash, at2.IDHash})
		allAt(t, "family after reuse", t2, append(append(rts, ats...), g)...)
		_, err := s.GetRefreshToken(ctx(t), stolen.Hash)
		wantErr(t, err, storage.ErrNotFound)
		// The legitimate holder's token is dead too.
		wantErr(t, s.RotateRefreshToken(ctx(t), next.Hash, nextToken("later", w), t2.Add(time.Minute), noGrace), storage.ErrRevoked)
		// Reuse again is still reported as reuse.
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("again", w), t2.Add(time.Minute), noGrace), storage.ErrAlreadyUsed)
		g, rts, ats = revokedAt(t, s, o.grant.ID, []string{o.refresh.Hash}, []string{o.access.IDHash})
		noneRevoked(t, "other family", append(append(rts, ats...), g)...)
	}},
	{"revoked, expired and unknown tokens do not rotate", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1") // refresh token expires at base()+30d
		wantErr(t, s.RotateRefreshToken(ctx(t), "nope", nextToken("n0", w), base(), noGrace), storage.ErrNotFound)

		expiry := base().Add(30 * 24 * time.Hour)
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("n1", w), expiry, noGrace), storage.ErrExpired)

		must(t, s.RevokeRefreshToken(ctx(t), w.refresh.Hash, base()))
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("n2", w), base(), noGrace), storage.ErrRevoked)
		g, _, ats := revokedAt(t, s, w.grant.ID, nil, []string{w.access.IDHash})
		noneRevoked(t, "grant and access token after revoking one refresh token", append(ats, g)...)

		rt := newRefresh("second", w.grant)
		must(t, s.CreateRefreshToken(ctx(t), rt))
		must(t, s.RevokeGrant(ctx(t), w.grant.ID, base()))
		wantErr(t, s.RotateRefreshToken(ctx(t), rt.Hash, nextToken("n3", w), base(), noGrace), storage.ErrRevoked)

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
	{"a retry within the grace gets a fresh successor and retires the unreceived one", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		grace := storage.RefreshGrace{Window: 30 * time.Second, ClientID: w.client.ID}
		t1 := base().Add(time.Hour)
		lost := nextToken("lost", w) // its response never reached the client
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, lost, t1, grace))

		t2 := t1.Add(10 * time.Second)
		retry := nextToken("retry", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, retry, t2, grace))
		got, err := s.GetRefreshToken(ctx(t), retry.Hash)
		must(t, err)
		equal(t, "retry's parent", got.ParentID, w.refresh.ID)
		equal(t, "retry's grant", got.GrantID, w.grant.ID)
		got, err = s.GetRefreshToken(ctx(t), lost.Hash)
		must(t, err)
		equal(t, "lost successor revoked", got.RevokedAt, ptr(ms(t2)))
		equal(t, "lost successor marked used", got.UsedAt, ptr(ms(t2)))
		old, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		equal(t, "old UsedAt keeps the first rotation (the window does not slide)", old.UsedAt, ptr(ms(t1)))
		noneRevoked(t, "old", old.RevokedAt)
		g, _, ats := revokedAt(t, s, w.grant.ID, nil, []string{w.access.IDHash})
		noneRevoked(t, "grant and access token after a retry", append(ats, g)...)
		equal(t, "live tokens", liveTokens(t, s, w.refresh.Hash, lost.Hash, retry.Hash), []string{retry.Hash})

		// A second lost response within the window: retried again, from the first rotation.
		t3 := t1.Add(20 * time.Second)
		again := nextToken("again", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, again, t3, grace))
		equal(t, "live tokens after a second retry", liveTokens(t, s, w.refresh.Hash, lost.Hash, retry.Hash, again.Hash), []string{again.Hash})

		// The chain goes on from the retry's successor.
		must(t, s.RotateRefreshToken(ctx(t), again.Hash, nextToken("fourth", w), t3.Add(time.Second), grace))

		// A retired successor presented later is reuse: it never reached the client.
		wantErr(t, s.RotateRefreshToken(ctx(t), lost.Hash, nextToken("thief", w), t3.Add(2*time.Second), grace), storage.ErrAlreadyUsed)
		g, _, _ = revokedAt(t, s, w.grant.ID, nil, nil)
		allAt(t, "grant after a retired successor was presented", t3.Add(2*time.Second), g)
	}},
	{"a retry after the window is reuse and revokes the family", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		grace := storage.RefreshGrace{Window: 30 * time.Second, ClientID: w.client.ID}
		t1 := base().Add(time.Hour)
		next := nextToken("next", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, t1, grace))
		t2 := t1.Add(30 * time.Second) // the window is open before t1+30s, not at it
		late := nextToken("late", w)
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, late, t2, grace), storage.ErrAlreadyUsed)
		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash, next.Hash}, []string{w.access.IDHash})
		allAt(t, "family after a late retry", t2, append(append(rts, ats...), g)...)
		_, err := s.GetRefreshToken(ctx(t), late.Hash)
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"a retry after the successor was used is reuse", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		grace := storage.RefreshGrace{Window: 30 * time.Second, ClientID: w.client.ID}
		t1 := base().Add(time.Hour)
		next := nextToken("next", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, t1, grace))
		third := nextToken("third", w)
		must(t, s.RotateRefreshToken(ctx(t), next.Hash, third, t1.Add(time.Second), grace))
		t2 := t1.Add(2 * time.Second)
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("stolen", w), t2, grace), storage.ErrAlreadyUsed)
		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash, next.Hash, third.Hash}, []string{w.access.IDHash})
		allAt(t, "family after the old token came back", t2, append(append(rts, ats...), g)...)
		// The used successor is not retired (marked used again): only revoked with the family.
		got, err := s.GetRefreshToken(ctx(t), next.Hash)
		must(t, err)
		equal(t, "used successor's UsedAt", got.UsedAt, ptr(ms(t1.Add(time.Second))))
	}},
	{"another client, or no grace, gets no retry", func(t *testing.T, s storage.Store) {
		graces := []func(w world) storage.RefreshGrace{
			func(world) storage.RefreshGrace {
				return storage.RefreshGrace{Window: 30 * time.Second, ClientID: "someone-else"}
			},
			func(world) storage.RefreshGrace { return storage.RefreshGrace{Window: 30 * time.Second} },
			func(w world) storage.RefreshGrace { return storage.RefreshGrace{ClientID: w.client.ID} },
		}
		for i, graceOf := range graces {
			w := makeWorld(t, s, fmt.Sprint(i+1))
			grace := graceOf(w)
			t1 := base().Add(time.Hour)
			must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken(fmt.Sprint("next", i), w), t1, grace))
			wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken(fmt.Sprint("retry", i), w), t1.Add(time.Second), grace), storage.ErrAlreadyUsed)
			g, _, _ := revokedAt(t, s, w.grant.ID, nil, nil)
			allAt(t, fmt.Sprintf("grant %d", i), t1.Add(time.Second), g)
		}
	}},
	{"a revoked family gets no retry", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		grace := storage.RefreshGrace{Window: 30 * time.Second, ClientID: w.client.ID}
		t1 := base().Add(time.Hour)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("next", w), t1, grace))
		must(t, s.RevokeGrant(ctx(t), w.grant.ID, t1))
		wantErr(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, nextToken("retry", w), t1.Add(time.Second), grace), storage.ErrAlreadyUsed)
		_, err := s.GetRefreshToken(ctx(t), "hash-retry")
		wantErr(t, err, storage.ErrNotFound)
	}},
}
