package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The conversions below implement the portable column encodings described in the package
// comment. They live in Go rather than in driver-specific types so that every backend stores
// exactly the same values.

// msOrNull stores a time as unix milliseconds, and the zero time as NULL so that it reads
// back as the zero time (not 1970, not year 1 in UTC) and NOT NULL columns reject it.
func msOrNull(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// msPtr stores an optional time; nil is NULL.
func msPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return msOrNull(*t)
}

// fromMS reads a time column back in UTC; NULL is the zero time.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// fromMSPtr reads an optional time column; NULL is nil.
func fromMSPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

// seconds stores a duration as whole seconds (sub-second parts are dropped).
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// fromSeconds reads a duration column.
func fromSeconds(s int64) time.Duration { return time.Duration(s) * time.Second }

// nullIfEmpty stores "" as NULL, for optional references (foreign keys ignore NULL) and
// optional unique values (UNIQUE allows many NULLs).
func nullIfEmpty(s string) sql.NullString {
	if s == "" {
		return sql.NullString{}
	}
	return sql.NullString{String: s, Valid: true}
}

// encodeList stores a string list as a JSON array; nil and empty are both "[]".
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil { // cannot happen for []string
		panic(err)
	}
	return string(b)
}

// decodeList reads a JSON list column; an empty list reads back as nil so callers need
// not distinguish the two.
func decodeList(column, s string) ([]string, error) {
	if s == "" || s == "[]" || s == "null" {
		return nil, nil
	}
	if l, ok := plainList(s); ok {
		return l, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode %s: %w", column, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// plainList reads the lists encodeList writes for plain values (scopes, URIs, client ids):
// ["a","b"] with no whitespace and no string needing an escape or a UTF-8 repair. It gives
// exactly what json.Unmarshal gives for such input, without its reflection (a refresh reads
// several lists); anything else reports false and goes to json.Unmarshal.
func plainList(s string) ([]string, bool) {
	if len(s) < 4 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	n := strings.Count(s, `","`) + 1
	l := make([]string, 0, n)
	rest := s[1 : len(s)-1]
	for {
		if len(rest) < 2 || rest[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"') + 1
		if end == 0 {
			return nil, false
		}
		v := rest[1:end]
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c == '\\' {
				return nil, false
			}
		}
		if !utf8.ValidString(v) {
			return nil, false
		}
		l = append(l, v)
		rest = rest[end+1:]
		if rest == "" {
			return l, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		rest = rest[1:]
	}
}

// listDecoder decodes several list columns and remembers the first error, so row
// conversions stay flat.
type listDecoder struct{ err error }

func (ld *listDecoder) list(column, s string) []string {
	if ld.err != nil {
		return nil
	}
	l, err := decodeList(column, s)
	ld.err = err
	return l
}

// orNow returns t, or now when t is zero: Create calls fill in CreatedAt and friends so
// callers need not, and NOT NULL columns never see a zero time by accident.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}
