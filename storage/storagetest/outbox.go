package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

func outboxItem(id string, due time.Time) *storage.OutboxItem {
	return &storage.OutboxItem{ID: id, Kind: storage.OutboxMessage, Payload: []byte("sealed " + id),
		CreatedAt: base(), NextAttemptAt: due}
}

// messages is the kinds a claim of plain messages asks for.
var messages = []string{storage.OutboxMessage}

var outboxTests = []test{
	{"a claim takes only the kinds it asks for", func(t *testing.T, s storage.Store) {
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("m", base())))
		newer := outboxItem("n", base().Add(-time.Minute)) // due first: the filter, not the order, leaves it
		newer.Kind = "kind-of-a-newer-release"
		must(t, s.EnqueueOutbox(ctx(t), newer))
		claimed, err := s.ClaimOutbox(ctx(t), "old", []string{storage.OutboxMessage, "other"}, 10, time.Minute, base())
		must(t, err)
		equal(t, "claimed by a worker without the newer kind", ids(claimed), []string{"m"})
		got, err := s.GetOutbox(ctx(t), "n")
		must(t, err)
		equal(t, "the newer kind's item untouched", []any{got.Attempts, got.ClaimedBy}, []any{0, ""})
		claimed, err = s.ClaimOutbox(ctx(t), "new", []string{storage.OutboxMessage, newer.Kind}, 10, time.Minute, base())
		must(t, err)
		equal(t, "claimed by a worker that knows it", ids(claimed), []string{"n"})
		_, err = s.ClaimOutbox(ctx(t), "none", nil, 10, time.Minute, base())
		if err == nil {
			t.Fatal("a claim of no kinds: no error")
		}
	}},
	{"enqueue, claim, finish: the payload goes", func(t *testing.T, s storage.Store) {
		it := outboxItem("m1", base())
		must(t, s.EnqueueOutbox(ctx(t), it))
		wantErr(t, s.EnqueueOutbox(ctx(t), outboxItem("m1", base())), storage.ErrConflict)
		got, err := s.GetOutbox(ctx(t), "m1")
		must(t, err)
		equal(t, "stored item", got, stored(&storage.OutboxItem{ID: "m1", Kind: storage.OutboxMessage,
			Payload: []byte("sealed m1"), Status: storage.OutboxPending, NextAttemptAt: base(), CreatedAt: base()}))

		claimed, err := s.ClaimOutbox(ctx(t), "w1", messages, 10, time.Minute, base())
		must(t, err)
		equal(t, "claimed", len(claimed), 1)
		c := claimed[0]
		equal(t, "claim", []any{c.ID, c.Attempts, c.ClaimedBy, c.ClaimedUntil, string(c.Payload)},
			[]any{"m1", 1, "w1", ptr(ms(base().Add(time.Minute))), "sealed m1"})
		// Someone else's claim is not ours to finish.
		wantErr(t, finishOutbox(t, s, "m1", "w2", storage.OutboxSent, "", base()), storage.ErrNotFound)
		must(t, finishOutbox(t, s, "m1", "w1", storage.OutboxSent, "", base().Add(time.Second)))
		got, err = s.GetOutbox(ctx(t), "m1")
		must(t, err)
		equal(t, "finished", []any{got.Status, len(got.Payload), got.ClaimedBy, got.ClaimedUntil, got.DoneAt},
			[]any{storage.OutboxSent, 0, "", (*time.Time)(nil), ptr(ms(base().Add(time.Second)))})
		// A finished item is neither claimed again nor finished twice.
		claimed, err = s.ClaimOutbox(ctx(t), "w1", messages, 10, time.Minute, base().Add(time.Hour))
		must(t, err)
		equal(t, "claimed after finish", len(claimed), 0)
		wantErr(t, finishOutbox(t, s, "m1", "w1", storage.OutboxFailed, "x", base()), storage.ErrNotFound)
		_, err = s.GetOutbox(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"only due items are claimed, oldest first, up to the limit", func(t *testing.T, s storage.Store) {
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("later", base().Add(time.Minute))))
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("b", base().Add(-time.Second))))
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("a", base().Add(-2*time.Second))))
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("c", base())))
		claimed, err := s.ClaimOutbox(ctx(t), "w", messages, 2, time.Hour, base())
		must(t, err)
		equal(t, "first batch", ids(claimed), []string{"a", "b"})
		claimed, err = s.ClaimOutbox(ctx(t), "w", messages, 10, time.Hour, base())
		must(t, err)
		equal(t, "second batch", ids(claimed), []string{"c"})
		claimed, err = s.ClaimOutbox(ctx(t), "w", messages, 10, time.Minute, base().Add(time.Minute))
		must(t, err)
		equal(t, "once due", ids(claimed), []string{"later"})
	}},
	{"a live claim excludes others; an expired one is taken over", func(t *testing.T, s storage.Store) {
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("m", base())))
		claimed, err := s.ClaimOutbox(ctx(t), "crashed", messages, 10, time.Minute, base())
		must(t, err)
		equal(t, "first claim", ids(claimed), []string{"m"})
		claimed, err = s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, base().Add(time.Minute-time.Millisecond))
		must(t, err)
		equal(t, "during the claim", len(claimed), 0)
		claimed, err = s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, base().Add(time.Minute))
		must(t, err)
		equal(t, "after the claim expired", ids(claimed), []string{"m"})
		equal(t, "attempts", claimed[0].Attempts, 2)
		// The crashed claimer, back, has lost it.
		wantErr(t, finishOutbox(t, s, "m", "crashed", storage.OutboxSent, "", base()), storage.ErrNotFound)
		wantErr(t, retryOutbox(t, s, "m", "crashed", base(), "x"), storage.ErrNotFound)
		must(t, finishOutbox(t, s, "m", "other", storage.OutboxSent, "", base()))
	}},
	{"retry releases the claim until the next attempt; failed is final", func(t *testing.T, s storage.Store) {
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("m", base())))
		_, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Hour, base())
		must(t, err)
		next := base().Add(30 * time.Second)
		must(t, retryOutbox(t, s, "m", "w", next, "451 try later"))
		got, err := s.GetOutbox(ctx(t), "m")
		must(t, err)
		equal(t, "after retry", []any{got.Status, got.Attempts, got.ClaimedBy, got.ClaimedUntil, got.NextAttemptAt, got.LastError},
			[]any{storage.OutboxPending, 1, "", (*time.Time)(nil), ms(next), "451 try later"})
		claimed, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Hour, next.Add(-time.Millisecond))
		must(t, err)
		equal(t, "before the next attempt", len(claimed), 0)
		claimed, err = s.ClaimOutbox(ctx(t), "w2", messages, 10, time.Hour, next)
		must(t, err)
		equal(t, "at the next attempt", []any{ids(claimed), claimed[0].Attempts}, []any{[]string{"m"}, 2})
		must(t, finishOutbox(t, s, "m", "w2", storage.OutboxFailed, "550 no such user", next))
		got, err = s.GetOutbox(ctx(t), "m")
		must(t, err)
		equal(t, "given up", []any{got.Status, got.LastError, len(got.Payload)}, []any{storage.OutboxFailed, "550 no such user", 0})
	}},
	{"an untried release takes back the attempt its claim counted", func(t *testing.T, s storage.Store) {
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("m", base())))
		for range 3 {
			claimed, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Hour, base())
			must(t, err)
			equal(t, "claimed", []any{ids(claimed), claimed[0].Attempts}, []any{[]string{"m"}, 1})
			lost, err := s.RecordOutbox(ctx(t), "w", []storage.OutboxOutcome{{ID: "m", Status: storage.OutboxPending,
				LastError: "interrupted", At: base(), Untried: true}})
			must(t, err)
			equal(t, "lost", len(lost), 0)
		}
		got, err := s.GetOutbox(ctx(t), "m")
		must(t, err)
		equal(t, "after three untried releases", []any{got.Attempts, got.ClaimedBy}, []any{0, ""})
	}},
	{"record writes a batch of outcomes and reports lost claims", func(t *testing.T, s storage.Store) {
		for _, id := range []string{"sent", "failed", "retry", "lost"} {
			must(t, s.EnqueueOutbox(ctx(t), outboxItem(id, base())))
		}
		claimed, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Minute, base())
		must(t, err)
		equal(t, "claimed", len(claimed), 4)
		// "lost": w's claim lapsed and another holder took the item over.
		must(t, retryOutbox(t, s, "lost", "w", base(), ""))
		_, err = s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, base())
		must(t, err)

		done, next := base().Add(time.Second), base().Add(time.Hour)
		outcomes := []storage.OutboxOutcome{
			{ID: "sent", Status: storage.OutboxSent, At: done},
			{ID: "failed", Status: storage.OutboxFailed, LastError: "550 no such user", At: done},
			{ID: "retry", Status: storage.OutboxPending, LastError: "451 try later", At: next},
			{ID: "lost", Status: storage.OutboxSent, At: done},
		}
		// One invalid outcome records none of them.
		bad := append([]storage.OutboxOutcome{}, outcomes...)
		bad[2].Status = "bogus"
		if _, err := s.RecordOutbox(ctx(t), "w", bad); err == nil {
			t.Fatal("an outcome with an unknown status was accepted")
		}
		got, err := s.GetOutbox(ctx(t), "sent")
		must(t, err)
		equal(t, "after a refused batch", []any{got.Status, got.ClaimedBy}, []any{storage.OutboxPending, "w"})

		lost, err := s.RecordOutbox(ctx(t), "w", outcomes)
		must(t, err)
		equal(t, "lost", lost, []string{"lost"})
		for _, want := range []struct {
			id, status, lastError string
			payload               int
			next                  time.Time
			doneAt                *time.Time
		}{
			{"sent", storage.OutboxSent, "", 0, ms(base()), ptr(ms(done))},
			{"failed", storage.OutboxFailed, "550 no such user", 0, ms(base()), ptr(ms(done))},
			{"retry", storage.OutboxPending, "451 try later", len("sealed retry"), ms(next), nil},
			{"lost", storage.OutboxPending, "", len("sealed lost"), ms(base()), nil},
		} {
			got, err := s.GetOutbox(ctx(t), want.id)
			must(t, err)
			wantHolder := ""
			if want.id == "lost" {
				wantHolder = "other"
			}
			equal(t, want.id, []any{got.Status, got.LastError, len(got.Payload), got.NextAttemptAt, got.DoneAt, got.ClaimedBy},
				[]any{want.status, want.lastError, want.payload, want.next, want.doneAt, wantHolder})
		}
		lost, err = s.RecordOutbox(ctx(t), "w", nil)
		equal(t, "an empty batch", []any{lost, err}, []any{[]string(nil), nil})
	}},
	{"extending claims renews only the holder's own pending ones", func(t *testing.T, s storage.Store) {
		for _, id := range []string{"mine", "lapsed", "theirs", "done"} {
			must(t, s.EnqueueOutbox(ctx(t), outboxItem(id, base())))
		}
		claimed, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Minute, base())
		must(t, err)
		equal(t, "claimed", len(claimed), 4)
		// "theirs": w's claim was released and another holder took the item; "done": w
		// finished it.
		must(t, retryOutbox(t, s, "theirs", "w", base(), ""))
		_, err = s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, base())
		must(t, err)
		must(t, finishOutbox(t, s, "done", "w", storage.OutboxSent, "", base()))

		until := base().Add(5 * time.Minute)
		// "lapsed" is renewed although its claim ran out, for nobody took it over.
		lost, err := s.ExtendOutboxClaims(ctx(t), "w", []string{"mine", "theirs", "done", "lapsed", "unknown"}, until)
		must(t, err)
		equal(t, "lost", lost, []string{"theirs", "done", "unknown"})
		for id, want := range map[string][]any{
			"mine":   {storage.OutboxPending, "w", ptr(ms(until)), 1},
			"lapsed": {storage.OutboxPending, "w", ptr(ms(until)), 1},
			"theirs": {storage.OutboxPending, "other", ptr(ms(base().Add(time.Minute))), 2},
			"done":   {storage.OutboxSent, "", (*time.Time)(nil), 1},
		} {
			got, err := s.GetOutbox(ctx(t), id)
			must(t, err)
			equal(t, id, []any{got.Status, got.ClaimedBy, got.ClaimedUntil, got.Attempts}, want)
		}
		lost, err = s.ExtendOutboxClaims(ctx(t), "w", nil, until)
		equal(t, "no ids", []any{lost, err}, []any{[]string(nil), nil})
	}},
	{"an extended claim excludes others until its new end", func(t *testing.T, s storage.Store) {
		must(t, s.EnqueueOutbox(ctx(t), outboxItem("m", base())))
		_, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Minute, base())
		must(t, err)
		until := base().Add(3 * time.Minute)
		lost, err := s.ExtendOutboxClaims(ctx(t), "w", []string{"m"}, until)
		must(t, err)
		equal(t, "lost", len(lost), 0)
		claimed, err := s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, base().Add(time.Minute))
		must(t, err)
		equal(t, "after the first claim's end", len(claimed), 0)
		claimed, err = s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, until.Add(-time.Millisecond))
		must(t, err)
		equal(t, "just before the extended end", len(claimed), 0)
		claimed, err = s.ClaimOutbox(ctx(t), "other", messages, 10, time.Minute, until)
		must(t, err)
		equal(t, "at the extended end", ids(claimed), []string{"m"})
		// The first holder, taken over, renews nothing and records nothing.
		lost, err = s.ExtendOutboxClaims(ctx(t), "w", []string{"m"}, until.Add(time.Hour))
		must(t, err)
		equal(t, "lost after the take-over", lost, []string{"m"})
		got, err := s.GetOutbox(ctx(t), "m")
		must(t, err)
		equal(t, "the new holder's claim", []any{got.ClaimedBy, got.ClaimedUntil}, []any{"other", ptr(ms(until.Add(time.Minute)))})
	}},
	{"purge deletes finished items only", func(t *testing.T, s storage.Store) {
		for _, id := range []string{"sent", "failed", "recent", "pending"} {
			must(t, s.EnqueueOutbox(ctx(t), outboxItem(id, base())))
		}
		_, err := s.ClaimOutbox(ctx(t), "w", messages, 10, time.Minute, base())
		must(t, err)
		must(t, finishOutbox(t, s, "sent", "w", storage.OutboxSent, "", base()))
		must(t, finishOutbox(t, s, "failed", "w", storage.OutboxFailed, "boom", base()))
		must(t, finishOutbox(t, s, "recent", "w", storage.OutboxSent, "", base().Add(time.Hour)))
		n, err := s.PurgeOutbox(ctx(t), base().Add(time.Minute))
		must(t, err)
		equal(t, "purged", n, int64(2))
		for id, want := range map[string]error{"sent": storage.ErrNotFound, "failed": storage.ErrNotFound, "recent": nil, "pending": nil} {
			_, err := s.GetOutbox(ctx(t), id)
			wantErr(t, err, want)
		}
	}},
	{"parallel claimers take each item once", func(t *testing.T, s storage.Store) {
		const items, workers = 40, 4
		for i := range items {
			must(t, s.EnqueueOutbox(ctx(t), outboxItem(fmt.Sprintf("m%02d", i), base())))
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			holder := fmt.Sprintf("w%d", w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					claimed, err := s.ClaimOutbox(ctx(t), holder, messages, 3, time.Minute, base())
					if err != nil {
						errs <- err
						return
					}
					if len(claimed) == 0 {
						return
					}
					for _, c := range claimed {
						mu.Lock()
						if prev, dup := seen[c.ID]; dup {
							mu.Unlock()
							errs <- fmt.Errorf("%s claimed by %s and %s", c.ID, prev, holder)
							return
						}
						seen[c.ID] = holder
						mu.Unlock()
						if err := finishOutbox(t, s, c.ID, holder, storage.OutboxSent, "", base()); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		equal(t, "items claimed", len(seen), items)
	}},
}

func ids(items []*storage.OutboxItem) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// finishOutbox records holder's final outcome of item id as the worker does (RecordOutbox):
// ErrNotFound when holder no longer holds the claim.
func finishOutbox(t *testing.T, s storage.Store, id, holder, status, lastError string, at time.Time) error {
	return recordOne(t, s, holder, storage.OutboxOutcome{ID: id, Status: status, LastError: lastError, At: at})
}

// retryOutbox releases holder's claim of id, due again at next, as the worker does.
func retryOutbox(t *testing.T, s storage.Store, id, holder string, next time.Time, lastError string) error {
	return recordOne(t, s, holder, storage.OutboxOutcome{ID: id, Status: storage.OutboxPending, LastError: lastError, At: next})
}

func recordOne(t *testing.T, s storage.Store, holder string, oc storage.OutboxOutcome) error {
	lost, err := s.RecordOutbox(ctx(t), holder, []storage.OutboxOutcome{oc})
	if err == nil && len(lost) > 0 {
		return storage.ErrNotFound
	}
	return err
}
