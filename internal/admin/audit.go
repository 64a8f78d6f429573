package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// AuditEntry is one audit event as the admin API shows it.
type AuditEntry struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	UserID    string    `json:"user_id,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Target    string    `json:"target,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

func viewEvent(e *storage.AuditEvent) AuditEntry {
	return AuditEntry{ID: e.ID, Type: e.Type, At: e.CreatedAt.UTC(), UserID: e.UserID, ClientID: e.ClientID,
		Actor: e.Actor, Target: e.Target, Reason: e.Reason, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail}
}

// AuditFilter selects audit events; empty fields match everything.
type AuditFilter struct {
	UserID   string    `json:"user,omitempty"` // the person whose own event it is
	ClientID string    `json:"client,omitempty"`
	Actor    string    `json:"actor,omitempty"`  // "user:ID", "client:ID", "cli"
	Target   string    `json:"target,omitempty"` // "user:ID", "client:ID"
	Type     string    `json:"type,omitempty"`
	Since    time.Time `json:"since,omitzero"` // inclusive
	Until    time.Time `json:"until,omitzero"` // exclusive
}

// AuditPage is one page of events, newest first; Next is the opaque cursor of the next page
// ("" at the end).
type AuditPage struct {
	Events []AuditEntry
	Next   string
}

func (f AuditFilter) query() storage.AuditQuery {
	return storage.AuditQuery{UserID: f.UserID, ClientID: f.ClientID, Actor: f.Actor, Target: f.Target,
		Type: f.Type, Since: f.Since, Until: f.Until}
}

// An audit cursor is the last event's time and id ("a:<unix ms>:<id>"), base64url: opaque to
// clients, and a keyset position so pages stay right while events are added.
func auditCursor(e *storage.AuditEvent) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "a:%d:%s", e.CreatedAt.UnixMilli(), e.ID))
}

func parseAuditCursor(c string, q *storage.AuditQuery) error {
	b, err := base64.RawURLEncoding.DecodeString(c)
	parts := strings.SplitN(string(b), ":", 3)
	if err != nil || len(parts) != 3 || parts[0] != "a" || parts[2] == "" {
		return &ValidationError{Problems: []Problem{{Field: "cursor", Reason: "is not a cursor this API gave"}}}
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return &ValidationError{Problems: []Problem{{Field: "cursor", Reason: "is not a cursor this API gave"}}}
	}
	q.BeforeAt, q.BeforeID = time.UnixMilli(ms), parts[2]
	return nil
}

// QueryAudit returns one page of the events matching f.
func (s *Service) QueryAudit(ctx context.Context, a Actor, f AuditFilter, cursor string, limit int) (AuditPage, error) {
	if err := authorize(a, ReadAudit); err != nil {
		return AuditPage{}, err
	}
	q := f.query()
	if cursor != "" {
		if err := parseAuditCursor(cursor, &q); err != nil {
			return AuditPage{}, err
		}
	}
	n := pageSize(limit)
	q.Limit = n + 1
	es, err := s.Store.QueryAuditEvents(ctx, q)
	if err != nil {
		return AuditPage{}, fmt.Errorf("query audit events: %w", err)
	}
	var p AuditPage
	if len(es) > n {
		es = es[:n]
		p.Next = auditCursor(es[n-1])
	}
	p.Events = make([]AuditEntry, len(es))
	for i, e := range es {
		p.Events[i] = viewEvent(e)
	}
	return p, nil
}

// exportBatch is how many events an export reads per query.
const exportBatch = 500

// ExportAudit writes every event matching f to w as JSON lines (one AuditEntry per line),
// newest first, reading in keyset batches so memory stays flat however long the log is. The
// export itself is audited (who took a copy of the log, with which filter) once its first
// batch is read and before any line is written: an export that failed before it gave out a
// line is not recorded (it answers 503, and its retry is recorded once), one cut after lines
// went out is. It returns how many events it wrote.
func (s *Service) ExportAudit(ctx context.Context, a Actor, f AuditFilter, w io.Writer) (int, error) {
	if err := authorize(a, ReadAudit); err != nil {
		return 0, err
	}
	desc, _ := json.Marshal(f) // plain struct: cannot fail
	q := f.query()
	q.Limit = exportBatch
	enc := json.NewEncoder(w)
	n := 0
	for first := true; ; first = false {
		es, err := s.Store.QueryAuditEvents(ctx, q)
		if err != nil {
			return n, fmt.Errorf("export audit events: %w", err)
		}
		if first {
			if err := s.record(ctx, a, "admin.audit.export", "", "", string(desc)); err != nil {
				return 0, err
			}
		}
		for _, e := range es {
			if err := enc.Encode(viewEvent(e)); err != nil {
				return n, fmt.Errorf("write audit export: %w", err)
			}
			n++
		}
		if len(es) < exportBatch {
			return n, nil
		}
		last := es[len(es)-1]
		q.BeforeAt, q.BeforeID = last.CreatedAt, last.ID
	}
}
