package server_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// TestMain quiets zitadel/oidc, which logs protocol errors (expected in the attack tests)
// through the default logger; -v keeps them. After the tests it removes the myaccount binary
// they shared (buildMyAccount) and the first start their servers copy (sharedFirstStart).
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	code := pgtest.Run(m)
	removeBuiltMyAccount()
	removeFirstStart()
	os.Exit(code)
}
