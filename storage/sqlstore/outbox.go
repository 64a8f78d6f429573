package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const outboxColumns = `id, kind, payload, status, attempts, next_attempt_at, claimed_by, claimed_until,
	last_error, created_at, done_at`

type outboxSQL struct {
	insert, get, claim, extend, finish, retry, purge string
	// due is the candidates' read for n kinds (kind IN n placeholders).
	due func(n int) string
}

func newOutboxSQL(rb func(string) string) outboxSQL {
	// The claim condition, shared by the read that finds candidates and the UPDATE that
	// takes one: pending, due, and not held under a live claim.
	const claimable = `status = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)`
	return outboxSQL{
		insert: rb(`INSERT INTO outbox (` + outboxColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		get:    rb(`SELECT ` + outboxColumns + ` FROM outbox WHERE id = ?`),
		// A plain SELECT (the read pool on SQLite) so that an idle worker's poll never
		// queues behind writers; outbox_due serves it.
		due: func(n int) string {
			return rb(`SELECT id FROM outbox WHERE kind IN (?` + strings.Repeat(`, ?`, n-1) + `) AND ` + claimable +
				` ORDER BY next_attempt_at, id LIMIT ?`)
		},
		// The claim itself is this one conditional UPDATE: of workers racing for a row,
		// exactly one matches (PostgreSQL re-checks the WHERE on the row a concurrent claim
		// committed; SQLite runs writers one at a time).
		claim: rb(`UPDATE outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
			WHERE id = ? AND ` + claimable + ` RETURNING ` + outboxColumns),
		// A claim lapsed but not yet taken over is still the holder's to renew: nobody else
		// works on it, and a claim racing with the renewal re-checks claimed_until.
		extend: rb(`UPDATE outbox SET claimed_until = ? WHERE id = ? AND status = 'pending' AND claimed_by = ?`),
		finish: rb(`UPDATE outbox SET status = ?, last_error = ?, done_at = ?, payload = ?,
			claimed_by = NULL, claimed_until = NULL
			WHERE id = ? AND status = 'pending' AND claimed_by = ?`),
		retry: rb(`UPDATE outbox SET next_attempt_at = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL,
				attempts = attempts - ?
			WHERE id = ? AND status = 'pending' AND claimed_by = ?`),
		purge: rb(batchDelete("outbox", "id", `status <> 'pending' AND done_at < ?`)),
	}
}

type outboxRow struct {
	ID            string         `db:"id"`
	Kind          string         `db:"kind"`
	Payload       []byte         `db:"payload"`
	Status        string         `db:"status"`
	Attempts      int            `db:"attempts"`
	NextAttemptAt sql.NullInt64  `db:"next_attempt_at"`
	ClaimedBy     sql.NullString `db:"claimed_by"`
	ClaimedUntil  sql.NullInt64  `db:"claimed_until"`
	LastError     string         `db:"last_error"`
	CreatedAt     sql.NullInt64  `db:"created_at"`
	DoneAt        sql.NullInt64  `db:"done_at"`
}

func (r *outboxRow) item() *storage.OutboxItem {
	return &storage.OutboxItem{
		ID: r.ID, Kind: r.Kind, Payload: r.Payload, Status: r.Status, Attempts: r.Attempts,
		NextAttemptAt: fromMS(r.NextAttemptAt), ClaimedBy: r.ClaimedBy.String, ClaimedUntil: fromMSPtr(r.ClaimedUntil),
		LastError: r.LastError, CreatedAt: fromMS(r.CreatedAt), DoneAt: fromMSPtr(r.DoneAt),
	}
}

// EnqueueOutbox stores it as pending. A zero CreatedAt is set to now and a zero
// NextAttemptAt to CreatedAt (in it as well); a duplicate id is ErrConflict.
func (d *DB) EnqueueOutbox(ctx context.Context, it *storage.OutboxItem) error {
	if it.ID == "" || it.Kind == "" {
		return fmt.Errorf("enqueue outbox: need an id and a kind")
	}
	it.CreatedAt = orNow(it.CreatedAt, d.clockNow())
	it.NextAttemptAt = orNow(it.NextAttemptAt, it.CreatedAt)
	it.Status, it.Attempts, it.ClaimedBy, it.ClaimedUntil, it.DoneAt = storage.OutboxPending, 0, "", nil, nil
	payload := it.Payload
	if payload == nil {
		payload = []byte{} // NOT NULL; PostgreSQL would take nil for NULL
	}
	_, err := d.exec(ctx, d.q.outbox.insert, it.ID, it.Kind, payload, it.Status, 0,
		msOrNull(it.NextAttemptAt), nil, nil, it.LastError, msOrNull(it.CreatedAt), nil)
	return d.wrap(err, "enqueue outbox %s", it.Kind)
}

// ClaimOutbox reads candidates, then claims them with one conditional UPDATE each, all in
// one transaction (one commit for the batch); candidates another holder took in between are
// skipped. The read costs an idle poll no write.
func (d *DB) ClaimOutbox(ctx context.Context, holder string, kinds []string, limit int, ttl time.Duration, now time.Time) ([]*storage.OutboxItem, error) {
	if holder == "" || len(kinds) == 0 || ttl <= 0 || limit <= 0 {
		return nil, fmt.Errorf("claim outbox: need a holder, kinds, a positive ttl and limit (got %q, %d kinds, %v, %d)", holder, len(kinds), ttl, limit)
	}
	ms := now.UnixMilli()
	args := make([]any, 0, len(kinds)+3)
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, ms, ms, limit)
	var ids []string
	if err := d.sel(ctx, &ids, d.q.outbox.due(len(kinds)), args...); err != nil {
		return nil, d.wrap(err, "find due outbox items")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var out []*storage.OutboxItem
	err := d.inTx(ctx, func(tx *DB) error {
		out = nil // a retried transaction starts over
		for _, id := range ids {
			var r outboxRow
			err := tx.get(ctx, &r, tx.q.outbox.claim, holder, now.Add(ttl).UnixMilli(), id, ms, ms)
			if errors.Is(err, sql.ErrNoRows) {
				continue // claimed (or finished) by someone else since the read
			}
			if err != nil {
				return d.wrap(err, "claim outbox item %s", id)
			}
			out = append(out, r.item())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordOutbox records every outcome in one transaction; an outcome holder no longer holds
// matches no row and is returned as lost.
func (d *DB) RecordOutbox(ctx context.Context, holder string, outcomes []storage.OutboxOutcome) ([]string, error) {
	if len(outcomes) == 0 {
		return nil, nil
	}
	var lost []string
	err := d.inTx(ctx, func(tx *DB) error {
		lost = nil // a retried transaction starts over
		for _, oc := range outcomes {
			n, err := tx.record(ctx, holder, oc)
			if err != nil {
				return d.wrap(err, "record outbox item %s", oc.ID)
			}
			if n == 0 {
				lost = append(lost, oc.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// ExtendOutboxClaims renews each claim with one conditional UPDATE, all in one transaction
// (one commit for the batch); an id holder no longer holds matches no row and is returned as
// lost.
func (d *DB) ExtendOutboxClaims(ctx context.Context, holder string, ids []string, until time.Time) ([]string, error) {
	if holder == "" {
		return nil, fmt.Errorf("extend outbox claims: need a holder")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	ms := until.UnixMilli()
	var lost []string
	err := d.inTx(ctx, func(tx *DB) error {
		lost = nil // a retried transaction starts over
		for _, id := range ids {
			n, err := tx.exec(ctx, tx.q.outbox.extend, ms, id, holder)
			if err != nil {
				return d.wrap(err, "extend outbox claim %s", id)
			}
			if n == 0 {
				lost = append(lost, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// record applies one outcome of holder's and returns how many rows it changed (0 when
// holder no longer holds the claim). A final status drops the payload.
func (d *DB) record(ctx context.Context, holder string, oc storage.OutboxOutcome) (int64, error) {
	switch oc.Status {
	case storage.OutboxSent, storage.OutboxFailed:
		return d.exec(ctx, d.q.outbox.finish, oc.Status, oc.LastError, oc.At.UnixMilli(), []byte{}, oc.ID, holder)
	case storage.OutboxPending:
		back := 0
		if oc.Untried {
			back = 1
		}
		return d.exec(ctx, d.q.outbox.retry, oc.At.UnixMilli(), oc.LastError, back, oc.ID, holder)
	}
	return 0, fmt.Errorf("status %q is neither final nor pending", oc.Status)
}

// GetOutbox returns the item whatever its state.
func (d *DB) GetOutbox(ctx context.Context, id string) (*storage.OutboxItem, error) {
	var r outboxRow
	if err := d.get(ctx, &r, d.q.outbox.get, id); err != nil {
		return nil, d.wrap(err, "get outbox item %s", id)
	}
	return r.item(), nil
}

// PurgeOutbox deletes sent and failed items finished before the given time.
func (d *DB) PurgeOutbox(ctx context.Context, finishedBefore time.Time) (int64, error) {
	n, err := d.inBatches(ctx, d.q.outbox.purge, finishedBefore.UnixMilli())
	if err != nil {
		return n, d.wrap(err, "purge outbox")
	}
	return n, nil
}
