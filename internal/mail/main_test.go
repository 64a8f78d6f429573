package mail_test

import (
	"testing"

	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// TestMain stops the PostgreSQL server a test started (pgtest starts one only when asked).
func TestMain(m *testing.M) { pgtest.Main(m) }
