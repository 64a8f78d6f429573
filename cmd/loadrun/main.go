// Command loadrun is the original form of `myaccount bench` (package internal/loadgen), kept
// for the scripts that call it: the baseline, discovery, JWKS and client_credentials with the
// same concurrency for the same time, or with --signins N that many sign-ins at once for the
// users loadNNN@example.com.
//
//	go run ./cmd/loadrun --url http://localhost:8080 --client-id ID --client-secret SECRET
//	go run ./cmd/loadrun --url http://localhost:8080 --signins 50 --users 50 --password PW \
//	    --client-id ID --client-secret SECRET --redirect https://app.example/cb
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/myaccount/myaccount/internal/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		os.Exit(1)
	}
}

func run() error {
	base := flag.String("url", "http://localhost:8080", "MyAccount base URL (loopback only)")
	clientID := flag.String("client-id", "", "a confidential client with the client_credentials grant (optional)")
	secret := flag.String("client-secret", "", "its secret")
	duration := flag.Duration("duration", 5*time.Second, "time per endpoint (at most 60s)")
	workers := flag.Int("concurrency", 8, "parallel requests (at most 256)")
	signins := flag.Int("signins", 0, "measure this many concurrent sign-ins instead (at most 500)")
	users := flag.Int("users", 50, "with --signins: how many loadNNN@example.com users exist")
	password := flag.String("password", "", "with --signins: the users' password")
	redirect := flag.String("redirect", "", "with --signins: the client's redirect URI")
	flag.Parse()
	ctx := context.Background()
	t := loadgen.Target{Issuer: *base, ClientID: *clientID, ClientSecret: *secret}
	if *signins > 0 {
		if *clientID == "" || *redirect == "" || *password == "" {
			return fmt.Errorf("--signins needs --client-id, --client-secret, --redirect and --password")
		}
		t.Login = &loadgen.Login{ClientID: *clientID, ClientSecret: *secret, Redirect: *redirect,
			Password: *password, Users: max(*users, 1), EmailPattern: "load%03d@example.com"}
		return loadgen.Burst(ctx, t, *signins, os.Stdout)
	}
	return loadgen.Run(ctx, loadgen.Options{Workers: *workers, Duration: *duration, Rounds: 1,
		Scenarios: []string{loadgen.Baseline, loadgen.Discovery, loadgen.JWKS, loadgen.ClientCredentials}}, []loadgen.Target{t})
}
