package admin_test

import (
	"testing"

	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// TestMain stops the PostgreSQL cluster pgtest may start (the rate-limit and lock tests).
func TestMain(m *testing.M) { pgtest.Main(m) }
