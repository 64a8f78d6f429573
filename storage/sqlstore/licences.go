package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Products, licences and seats (issue 14). Administered rarely and read once per token, so
// the statements are rebound per call like the admin ones in roles.go.

const licenceColumns = `id, product_id, code_hash, batch, seats, days, user_id, created_at,
	redeemed_at, expires_at, revoked_at, reminded_30_at, reminded_7_at, expiry_notified_at`

type licenceRow struct {
	ID               string         `db:"id"`
	ProductID        string         `db:"product_id"`
	CodeHash         string         `db:"code_hash"`
	Batch            string         `db:"batch"`
	Seats            int            `db:"seats"`
	Days             int            `db:"days"`
	UserID           sql.NullString `db:"user_id"`
	CreatedAt        sql.NullInt64  `db:"created_at"`
	RedeemedAt       sql.NullInt64  `db:"redeemed_at"`
	ExpiresAt        sql.NullInt64  `db:"expires_at"`
	RevokedAt        sql.NullInt64  `db:"revoked_at"`
	Reminded30At     sql.NullInt64  `db:"reminded_30_at"`
	Reminded7At      sql.NullInt64  `db:"reminded_7_at"`
	ExpiryNotifiedAt sql.NullInt64  `db:"expiry_notified_at"`
}

func (r *licenceRow) licence() *storage.Licence {
	return &storage.Licence{
		ID: r.ID, ProductID: r.ProductID, CodeHash: r.CodeHash, Batch: r.Batch, Seats: r.Seats,
		Days: r.Days, UserID: r.UserID.String, CreatedAt: fromMS(r.CreatedAt),
		RedeemedAt: fromMSPtr(r.RedeemedAt), ExpiresAt: fromMSPtr(r.ExpiresAt),
		RevokedAt: fromMSPtr(r.RevokedAt), Reminded30At: fromMSPtr(r.Reminded30At),
		Reminded7At: fromMSPtr(r.Reminded7At), ExpiryNotifiedAt: fromMSPtr(r.ExpiryNotifiedAt),
	}
}

const activationColumns = `licence_id, device_id, seat, user_id, client_id, grant_id, device_name, created_at`

type activationRow struct {
	LicenceID  string        `db:"licence_id"`
	DeviceID   string        `db:"device_id"`
	Seat       int           `db:"seat"`
	UserID     string        `db:"user_id"`
	ClientID   string        `db:"client_id"`
	GrantID    string        `db:"grant_id"`
	DeviceName string        `db:"device_name"`
	CreatedAt  sql.NullInt64 `db:"created_at"`
}

func (r *activationRow) activation() *storage.Activation {
	return &storage.Activation{LicenceID: r.LicenceID, DeviceID: r.DeviceID, Seat: r.Seat, UserID: r.UserID,
		ClientID: r.ClientID, GrantID: r.GrantID, DeviceName: r.DeviceName, CreatedAt: fromMS(r.CreatedAt)}
}

// CreateProduct inserts the product and links its clients in one transaction.
func (d *DB) CreateProduct(ctx context.Context, p *storage.Product) error {
	p.CreatedAt = orNow(p.CreatedAt, d.clockNow())
	p.UpdatedAt = orNow(p.UpdatedAt, p.CreatedAt)
	err := d.inTx(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, tx.rb(`INSERT INTO products (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`),
			p.ID, p.Name, msOrNull(p.CreatedAt), msOrNull(p.UpdatedAt)); err != nil {
			return err
		}
		return tx.linkClients(ctx, p.ID, p.ClientIDs)
	})
	return d.wrap(err, "create product %q", p.ID)
}

// linkClients makes clientIDs the product's clients. A client is inserted from the clients
// row, so an unknown one inserts nothing and is told apart; one of another product violates
// the primary key (ErrConflict).
func (tx *DB) linkClients(ctx context.Context, productID string, clientIDs []string) error {
	if _, err := tx.exec(ctx, tx.rb(`DELETE FROM product_clients WHERE product_id = ?`), productID); err != nil {
		return err
	}
	for _, c := range clientIDs {
		n, err := tx.exec(ctx, tx.rb(`INSERT INTO product_clients (client_id, product_id) SELECT id, ? FROM clients WHERE id = ?`), productID, c)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("client %q: %w", c, storage.ErrNotFound)
		}
	}
	return nil
}

type productRow struct {
	ID        string        `db:"id"`
	Name      string        `db:"name"`
	CreatedAt sql.NullInt64 `db:"created_at"`
	UpdatedAt sql.NullInt64 `db:"updated_at"`
}

func (d *DB) products(ctx context.Context, where string, args ...any) ([]*storage.Product, error) {
	var rows []productRow
	if err := d.sel(ctx, &rows, d.rb(`SELECT id, name, created_at, updated_at FROM products `+where+` ORDER BY id`), args...); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	// Only the found products' links: this runs for every token with the licences scope.
	ids := make([]any, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var links []struct {
		ClientID  string `db:"client_id"`
		ProductID string `db:"product_id"`
	}
	if err := d.sel(ctx, &links, d.rb(`SELECT client_id, product_id FROM product_clients WHERE product_id IN (?`+
		strings.Repeat(`, ?`, len(ids)-1)+`) ORDER BY client_id`), ids...); err != nil {
		return nil, err
	}
	out := make([]*storage.Product, len(rows))
	byID := map[string]*storage.Product{}
	for i, r := range rows {
		out[i] = &storage.Product{ID: r.ID, Name: r.Name, CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
		byID[r.ID] = out[i]
	}
	for _, l := range links {
		if p := byID[l.ProductID]; p != nil {
			p.ClientIDs = append(p.ClientIDs, l.ClientID)
		}
	}
	return out, nil
}

// GetProduct returns the product with its clients.
func (d *DB) GetProduct(ctx context.Context, id string) (*storage.Product, error) {
	ps, err := d.products(ctx, `WHERE id = ?`, id)
	if err == nil && len(ps) == 0 {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, d.wrap(err, "get product %q", id)
	}
	return ps[0], nil
}

// ListProducts returns every product in id order.
func (d *DB) ListProducts(ctx context.Context) ([]*storage.Product, error) {
	ps, err := d.products(ctx, ``)
	return ps, d.wrap(err, "list products")
}

// ProductOfClient returns the client's product.
func (d *DB) ProductOfClient(ctx context.Context, clientID string) (*storage.Product, error) {
	ps, err := d.products(ctx, `WHERE id = (SELECT product_id FROM product_clients WHERE client_id = ?)`, clientID)
	if err == nil && len(ps) == 0 {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, d.wrap(err, "product of client %q", clientID)
	}
	return ps[0], nil
}

// UpdateProduct reads the product locked, runs fn and stores name and clients.
func (d *DB) UpdateProduct(ctx context.Context, id string, fn func(*storage.Product) error) (*storage.Product, error) {
	var p *storage.Product
	err := d.inTx(ctx, func(tx *DB) error {
		var one int
		if err := tx.get(ctx, &one, tx.rb(`SELECT 1 FROM products WHERE id = ?`+tx.dialect.ForUpdate), id); err != nil {
			return err
		}
		var err error
		if p, err = tx.GetProduct(ctx, id); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		p.ID = id
		p.UpdatedAt = tx.clockNow()
		slices.Sort(p.ClientIDs)
		p.ClientIDs = slices.Compact(p.ClientIDs)
		if _, err := tx.exec(ctx, tx.rb(`UPDATE products SET name = ?, updated_at = ? WHERE id = ?`), p.Name, msOrNull(p.UpdatedAt), id); err != nil {
			return err
		}
		return tx.linkClients(ctx, id, p.ClientIDs)
	})
	if err != nil {
		return nil, d.wrap(err, "update product %q", id)
	}
	return p, nil
}

// DeleteProduct deletes a product that has no licences: licences are records of what was
// sold, so they are never deleted with their product.
func (d *DB) DeleteProduct(ctx context.Context, id string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		var n int
		if err := tx.get(ctx, &n, tx.rb(`SELECT COUNT(*) FROM licences WHERE product_id = ?`), id); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d licences: %w", n, storage.ErrConflict)
		}
		return one(tx.exec(ctx, tx.rb(`DELETE FROM products WHERE id = ?`), id))
	})
	return d.wrap(err, "delete product %q", id)
}

// CreateLicences inserts the batch in one transaction.
func (d *DB) CreateLicences(ctx context.Context, ls []*storage.Licence) error {
	err := d.inTx(ctx, func(tx *DB) error {
		q := tx.rb(`INSERT INTO licences (` + licenceColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		for _, l := range ls {
			l.CreatedAt = orNow(l.CreatedAt, tx.clockNow())
			if _, err := tx.exec(ctx, q, l.ID, l.ProductID, l.CodeHash, l.Batch, l.Seats, l.Days,
				nullIfEmpty(l.UserID), msOrNull(l.CreatedAt), msPtr(l.RedeemedAt), msPtr(l.ExpiresAt),
				msPtr(l.RevokedAt), msPtr(l.Reminded30At), msPtr(l.Reminded7At), msPtr(l.ExpiryNotifiedAt)); err != nil {
				return fmt.Errorf("licence %q: %w", l.ID, err)
			}
		}
		return nil
	})
	return d.wrap(err, "create %d licences", len(ls))
}

func (d *DB) getLicence(ctx context.Context, where string, args ...any) (*storage.Licence, error) {
	var r licenceRow
	if err := d.get(ctx, &r, d.rb(`SELECT `+licenceColumns+` FROM licences WHERE `+where), args...); err != nil {
		return nil, err
	}
	return r.licence(), nil
}

// GetLicence returns the licence by id.
func (d *DB) GetLicence(ctx context.Context, id string) (*storage.Licence, error) {
	l, err := d.getLicence(ctx, `id = ?`, id)
	return l, d.wrap(err, "get licence %q", id)
}

// ListLicences returns the licences q selects, oldest first.
func (d *DB) ListLicences(ctx context.Context, q storage.LicenceQuery) ([]*storage.Licence, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"product_id", q.ProductID}, {"user_id", q.UserID}, {"batch", q.Batch}} {
		if c.v != "" {
			where = append(where, c.col+` = ?`)
			args = append(args, c.v)
		}
	}
	query := `SELECT ` + licenceColumns + ` FROM licences`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at, id`
	if q.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	var rows []licenceRow
	if err := d.sel(ctx, &rows, d.rb(query), args...); err != nil {
		return nil, d.wrap(err, "list licences")
	}
	out := make([]*storage.Licence, len(rows))
	for i := range rows {
		out[i] = rows[i].licence()
	}
	return out, nil
}

// RedeemLicence claims the licence in one UPDATE whose WHERE clause decides; when it matched
// nothing the row is read to say why.
func (d *DB) RedeemLicence(ctx context.Context, codeHash, userID string, now time.Time) (*storage.Licence, error) {
	var l *storage.Licence
	err := d.inTx(ctx, func(tx *DB) error {
		ms := now.UnixMilli()
		// expires_at = now + days (NULL for an unlimited term), computed in SQL so that the
		// claim and the term are one statement.
		n, err := tx.exec(ctx, tx.rb(`UPDATE licences SET user_id = ?, redeemed_at = ?,
			expires_at = CASE WHEN days > 0 THEN CAST(? AS BIGINT) + days * 86400000 ELSE NULL END
			WHERE code_hash = ? AND user_id IS NULL AND redeemed_at IS NULL AND revoked_at IS NULL`), userID, ms, ms, codeHash)
		if err != nil {
			return err
		}
		if l, err = tx.getLicence(ctx, `code_hash = ?`, codeHash); err != nil {
			return err
		}
		switch {
		case n == 1:
			return nil
		case l.RevokedAt != nil:
			return storage.ErrRevoked
		case l.UserID != userID:
			return storage.ErrAlreadyUsed
		}
		return nil
	})
	if err != nil {
		return nil, d.wrap(err, "redeem licence")
	}
	return l, nil
}

// UpdateLicence reads the licence locked, runs fn and stores what may change. It is durable:
// it revokes licences and shortens terms, which a power cut must not undo (and it is an
// admin's rare action, so always waiting costs nothing that matters).
func (d *DB) UpdateLicence(ctx context.Context, id string, fn func(*storage.Licence) error) (*storage.Licence, error) {
	var l *storage.Licence
	err := d.inTx(ctx, func(tx *DB) error {
		var err error
		if l, err = tx.getLicence(ctx, `id = ?`+tx.dialect.ForUpdate, id); err != nil {
			return err
		}
		if err := fn(l); err != nil {
			return err
		}
		_, err = tx.exec(ctx, tx.rb(`UPDATE licences SET seats = ?, days = ?, expires_at = ?, revoked_at = ?,
			reminded_30_at = ?, reminded_7_at = ?, expiry_notified_at = ? WHERE id = ?`),
			l.Seats, l.Days, msPtr(l.ExpiresAt), msPtr(l.RevokedAt), msPtr(l.Reminded30At), msPtr(l.Reminded7At),
			msPtr(l.ExpiryNotifiedAt), id)
		return tx.durable(ctx, err)
	})
	if err != nil {
		return nil, d.wrap(err, "update licence %q", id)
	}
	return l, nil
}

// liveActivations is the activations whose grant is not revoked: a device signed out holds
// no seat.
const liveActivations = `SELECT a.licence_id, a.device_id, a.seat, a.user_id, a.client_id, a.grant_id, a.device_name, a.created_at
	FROM licence_activations a JOIN grants g ON g.id = a.grant_id WHERE g.revoked_at IS NULL`

// Activate locks the licence row (PostgreSQL: FOR UPDATE; SQLite: the write transaction
// already excludes others), drops seats of signed-out devices, and then either moves the
// device's seat to its new grant or takes the lowest free seat number. UNIQUE (licence_id,
// seat) would refuse a double booking even if the lock were missing.
func (d *DB) Activate(ctx context.Context, a *storage.Activation, now time.Time) ([]*storage.Activation, error) {
	var holders []*storage.Activation
	err := d.inTx(ctx, func(tx *DB) error {
		holders = nil
		l, err := tx.getLicence(ctx, `id = ?`+tx.dialect.ForUpdate, a.LicenceID)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, tx.rb(`DELETE FROM licence_activations WHERE licence_id = ?
			AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NOT NULL)`), a.LicenceID); err != nil {
			return err
		}
		if a.Automatic {
			var n int
			if err := tx.get(ctx, &n, tx.rb(`SELECT COUNT(*) FROM licence_releases WHERE licence_id = ? AND device_id = ?`), a.LicenceID, a.DeviceID); err != nil {
				return err
			}
			if n > 0 {
				return storage.ErrRevoked
			}
		} else if _, err := tx.exec(ctx, tx.rb(`DELETE FROM licence_releases WHERE licence_id = ? AND device_id = ?`), a.LicenceID, a.DeviceID); err != nil {
			return err
		}
		var rows []activationRow
		if err := tx.sel(ctx, &rows, tx.rb(`SELECT `+activationColumns+` FROM licence_activations WHERE licence_id = ? ORDER BY seat`), a.LicenceID); err != nil {
			return err
		}
		taken := map[int]bool{}
		for _, r := range rows {
			if r.DeviceID == a.DeviceID {
				a.Seat, a.CreatedAt = r.Seat, fromMS(r.CreatedAt)
				_, err := tx.exec(ctx, tx.rb(`UPDATE licence_activations SET grant_id = ?, client_id = ?, device_name = ?
					WHERE licence_id = ? AND device_id = ?`), a.GrantID, a.ClientID, a.DeviceName, a.LicenceID, a.DeviceID)
				return err
			}
			taken[r.Seat] = true
		}
		// Seats beyond a lowered count stay held until freed, but give no new seat.
		if len(rows) >= l.Seats {
			for i := range rows {
				holders = append(holders, rows[i].activation())
			}
			return storage.ErrConflict
		}
		a.Seat = 1
		for taken[a.Seat] {
			a.Seat++
		}
		a.CreatedAt = now.UTC()
		_, err = tx.exec(ctx, tx.rb(`INSERT INTO licence_activations (`+activationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			a.LicenceID, a.DeviceID, a.Seat, a.UserID, a.ClientID, a.GrantID, a.DeviceName, msOrNull(a.CreatedAt))
		return err
	})
	if errors.Is(err, storage.ErrConflict) && holders != nil {
		return holders, d.wrap(err, "activate licence %q: every seat is taken", a.LicenceID)
	}
	return nil, d.wrap(err, "activate licence %q", a.LicenceID)
}

// ListActivations returns the live activations of the licences.
func (d *DB) ListActivations(ctx context.Context, licenceIDs []string) ([]*storage.Activation, error) {
	if len(licenceIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(licenceIDs))
	for i, id := range licenceIDs {
		args[i] = id
	}
	var rows []activationRow
	q := liveActivations + ` AND a.licence_id IN (?` + strings.Repeat(`, ?`, len(licenceIDs)-1) + `) ORDER BY a.licence_id, a.seat`
	if err := d.sel(ctx, &rows, d.rb(q), args...); err != nil {
		return nil, d.wrap(err, "list activations")
	}
	out := make([]*storage.Activation, len(rows))
	for i := range rows {
		out[i] = rows[i].activation()
	}
	return out, nil
}

// DeleteActivation frees the device's seat.
func (d *DB) DeleteActivation(ctx context.Context, licenceID, deviceID string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		if err := one(tx.exec(ctx, tx.rb(`DELETE FROM licence_activations WHERE licence_id = ? AND device_id = ?`), licenceID, deviceID)); err != nil {
			return err
		}
		_, err := tx.exec(ctx, tx.rb(`INSERT INTO licence_releases (licence_id, device_id, released_at) VALUES (?, ?, ?)
			ON CONFLICT (licence_id, device_id) DO UPDATE SET released_at = excluded.released_at`), licenceID, deviceID, tx.clockNow().UnixMilli())
		return err
	})
	return d.wrap(d.durable(ctx, err), "free seat of %q on licence %q", deviceID, licenceID)
}

// LicencesDue returns the owned, unrevoked licences with a reminder due and not yet
// queued. Each returned licence has work, so a limited page cannot be filled with licences
// that only wait for a later reminder.
func (d *DB) LicencesDue(ctx context.Context, now time.Time, limit int) ([]*storage.Licence, error) {
	const day = int64(24 * time.Hour / time.Millisecond)
	ms := now.UnixMilli()
	q := `SELECT ` + licenceColumns + ` FROM licences WHERE user_id IS NOT NULL AND revoked_at IS NULL
		AND expires_at IS NOT NULL AND (
			(reminded_30_at IS NULL AND expires_at <= CAST(? AS BIGINT)) OR
			(reminded_7_at IS NULL AND expires_at <= CAST(? AS BIGINT)) OR
			(expiry_notified_at IS NULL AND expires_at <= CAST(? AS BIGINT)))
		ORDER BY expires_at, id`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	var rows []licenceRow
	if err := d.sel(ctx, &rows, d.rb(q), ms+30*day, ms+7*day, ms); err != nil {
		return nil, d.wrap(err, "licences due")
	}
	out := make([]*storage.Licence, len(rows))
	for i := range rows {
		out[i] = rows[i].licence()
	}
	return out, nil
}

// MarkLicenceReminder sets the reminder's column if it is still NULL: of two instances one
// matches.
func (d *DB) MarkLicenceReminder(ctx context.Context, id, kind string, now time.Time) (bool, error) {
	col := map[string]string{storage.Reminder30Days: "reminded_30_at", storage.Reminder7Days: "reminded_7_at",
		storage.ReminderExpiry: "expiry_notified_at"}[kind]
	if col == "" {
		return false, fmt.Errorf("mark licence reminder: unknown kind %q", kind)
	}
	n, err := d.exec(ctx, d.rb(`UPDATE licences SET `+col+` = ? WHERE id = ? AND `+col+` IS NULL`), now.UnixMilli(), id)
	if err != nil {
		return false, d.wrap(err, "mark licence %q reminder %s", id, kind)
	}
	return n == 1, nil
}
