package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/storage"
)

// Roles (issue 13) and the admin API's searches. These statements are few and called rarely
// (by people administering), so they are rebound per call rather than kept in queries.

func (d *DB) rb(q string) string { return sqlx.Rebind(d.dialect.BindType, q) }

// GrantRole inserts the role row from the users row, so a missing user inserts nothing
// (instead of a driver-specific foreign-key error) and is told apart afterwards.
func (d *DB) GrantRole(ctx context.Context, userID, role string, now time.Time) error {
	if !slices.Contains(storage.Roles, role) {
		return fmt.Errorf("grant role: unknown role %q", role)
	}
	err := d.inTx(ctx, func(tx *DB) error {
		n, err := tx.exec(ctx, tx.rb(`INSERT INTO user_roles (user_id, role, granted_at)
			SELECT id, ?, ? FROM users WHERE id = ? ON CONFLICT (user_id, role) DO NOTHING`),
			role, now.UnixMilli(), userID)
		if err != nil || n > 0 {
			return err
		}
		var one int // nothing inserted: already held, or no such user
		return tx.get(ctx, &one, tx.rb(`SELECT 1 FROM users WHERE id = ?`), userID)
	})
	return d.wrap(err, "grant role %q to %q", role, userID)
}

// RevokeRole deletes the role row.
func (d *DB) RevokeRole(ctx context.Context, userID, role string) error {
	err := d.durable(ctx, one(d.exec(ctx, d.rb(`DELETE FROM user_roles WHERE user_id = ? AND role = ?`), userID, role)))
	return d.wrap(err, "revoke role %q of %q", role, userID)
}

// ListUserRoles returns the user's roles in name order.
func (d *DB) ListUserRoles(ctx context.Context, userID string) ([]string, error) {
	roles := []string{}
	if err := d.sel(ctx, &roles, d.rb(`SELECT role FROM user_roles WHERE user_id = ? ORDER BY role`), userID); err != nil {
		return nil, d.wrap(err, "list roles of %q", userID)
	}
	return roles, nil
}

// ListRoleUsers returns the ids of the role's holders in id order.
func (d *DB) ListRoleUsers(ctx context.Context, role string) ([]string, error) {
	ids := []string{}
	if err := d.sel(ctx, &ids, d.rb(`SELECT user_id FROM user_roles WHERE role = ? ORDER BY user_id`), role); err != nil {
		return nil, d.wrap(err, "list holders of role %q", role)
	}
	return ids, nil
}

// likePrefix escapes LIKE's wildcards so a prefix matches literally (ESCAPE '\').
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// SearchUsers pages through users in id order (a keyset cursor: stable while rows are added).
func (d *DB) SearchUsers(ctx context.Context, q storage.UserQuery) ([]*storage.User, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.EmailPrefix != "" {
		where = append(where, `email_normalized LIKE ? ESCAPE '\'`)
		args = append(args, likePrefix(q.EmailPrefix))
	}
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if q.AfterID != "" {
		where = append(where, "id > ?")
		args = append(args, q.AfterID)
	}
	query := `SELECT ` + userColumns + ` FROM users WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	var rows []userRow
	if err := d.sel(ctx, &rows, d.rb(query), args...); err != nil {
		return nil, d.wrap(err, "search users")
	}
	out := make([]*storage.User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

// QueryAuditEvents pages through audit events newest first, with the same order as
// ListAuditEvents (created_at, then id, both descending).
func (d *DB) QueryAuditEvents(ctx context.Context, q storage.AuditQuery) ([]*storage.AuditEvent, error) {
	where, args := []string{"1 = 1"}, []any{}
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if q.ID != "" {
		add("id = ?", q.ID)
	}
	if q.UserID != "" {
		add("user_id = ?", q.UserID)
	}
	if q.ClientID != "" {
		add("client_id = ?", q.ClientID)
	}
	if q.Type != "" {
		add("type = ?", q.Type)
	}
	// "<> ''" is implied by the value, but spelled out: the actor and target indexes hold
	// only the events that have one (migration 0022), and both planners use a partial
	// index only when the query's terms say its condition.
	if q.Actor != "" {
		add("actor = ? AND actor <> ''", q.Actor)
	}
	if q.Target != "" {
		add("target = ? AND target <> ''", q.Target)
	}
	if !q.Since.IsZero() {
		add("created_at >= ?", q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		add("created_at < ?", q.Until.UnixMilli())
	}
	if q.BeforeID != "" {
		ms := q.BeforeAt.UnixMilli()
		add("(created_at < ? OR (created_at = ? AND id < ?))", ms, ms, q.BeforeID)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, id DESC`
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	var rows []auditRow
	if err := d.sel(ctx, &rows, d.rb(query), args...); err != nil {
		return nil, d.wrap(err, "query audit events")
	}
	out := make([]*storage.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}
