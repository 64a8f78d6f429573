package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const auditColumns = `id, user_id, type, ip, user_agent, client_id, detail, created_at, actor, target, reason`

type auditSQL struct {
	insert, list, prune string
}

func newAuditSQL(rb func(string) string) auditSQL {
	return auditSQL{
		// ON CONFLICT DO NOTHING, not a unique violation: PostgreSQL would abort the
		// transaction the event is written in (see AddAuditEvent).
		insert: rb(`INSERT INTO audit_events (` + auditColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`),
		// id breaks ties between events of the same millisecond so paging is stable.
		list: rb(`SELECT ` + auditColumns + ` FROM audit_events WHERE user_id = ?
			ORDER BY created_at DESC, id DESC LIMIT ?`),
		prune: rb(batchDelete("audit_events", "id", `created_at < ?`)),
	}
}

type auditRow struct {
	ID        string         `db:"id"`
	UserID    sql.NullString `db:"user_id"`
	Type      string         `db:"type"`
	IP        string         `db:"ip"`
	UserAgent string         `db:"user_agent"`
	ClientID  string         `db:"client_id"`
	Detail    string         `db:"detail"`
	CreatedAt sql.NullInt64  `db:"created_at"`
	Actor     string         `db:"actor"`
	Target    string         `db:"target"`
	Reason    string         `db:"reason"`
}

func (r auditRow) event() *storage.AuditEvent {
	return &storage.AuditEvent{ID: r.ID, UserID: r.UserID.String, Type: r.Type, IP: r.IP,
		UserAgent: r.UserAgent, ClientID: r.ClientID, Detail: r.Detail, CreatedAt: fromMS(r.CreatedAt),
		Actor: r.Actor, Target: r.Target, Reason: r.Reason}
}

// AddAuditEvent records e. An empty ID is filled with a random one and a zero CreatedAt with
// now (in e as well), because callers log from many places and should not each mint ids. An
// empty UserID is stored as NULL: an event about no known account (a failed sign-in with an
// unknown email) is still worth keeping. An event whose ID is stored already is written
// once, the first time (see storage.AuditStore).
func (d *DB) AddAuditEvent(ctx context.Context, e *storage.AuditEvent) error {
	e.CreatedAt = orNow(e.CreatedAt, d.clockNow())
	if e.ID == "" {
		e.ID = d.eventID()
	}
	_, err := d.exec(ctx, d.q.audit.insert, e.ID, nullIfEmpty(e.UserID), e.Type, e.IP, e.UserAgent,
		e.ClientID, e.Detail, msOrNull(e.CreatedAt), e.Actor, e.Target, e.Reason)
	return d.wrap(err, "add audit event %q", e.Type)
}

// eventID mints an audit event's id: a time part that grows with every id this process
// mints (microseconds, or one more than the last), in fixed-width hex so that text order is
// mint order, then randomness against other instances' ids of the same microsecond. Lists
// order by created_at, then id: events written together (a sign-in's, a transaction's,
// which share their time to the millisecond) came back in random order with random ids,
// "Second factor added" before or after "Account activated" by chance.
func (d *DB) eventID() string {
	now := d.clockNow().UnixMicro()
	for {
		last := d.eventSeq.Load()
		next := max(now, last+1)
		if d.eventSeq.CompareAndSwap(last, next) {
			return fmt.Sprintf("%014x", next) + strings.ToLower(rand.Text()[:12])
		}
	}
}

// ListAuditEvents returns the user's newest limit events, newest first; limit <= 0 means all.
func (d *DB) ListAuditEvents(ctx context.Context, userID string, limit int) ([]*storage.AuditEvent, error) {
	if limit <= 0 {
		limit = math.MaxInt32 // a number both backends accept in LIMIT
	}
	var rows []auditRow
	if err := d.sel(ctx, &rows, d.q.audit.list, userID, limit); err != nil {
		return nil, d.wrap(err, "list audit events of %q", userID)
	}
	out := make([]*storage.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}

// DeleteAuditEventsBefore enforces the retention period of the activity log.
func (d *DB) DeleteAuditEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	n, err := d.inBatches(ctx, d.q.audit.prune, before.UnixMilli())
	return n, d.wrap(err, "delete audit events")
}
