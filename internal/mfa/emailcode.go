package mfa

import (
	"crypto/rand"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
)

const (
	// EmailCodeDigits is the length of an emailed sign-in code.
	EmailCodeDigits = 6
	// EmailCodeTTL is how long an emailed code works. Ten minutes covers slow mail delivery;
	// together with the attempt limit it keeps the chance of guessing one of 10^6 codes
	// negligible.
	EmailCodeTTL = 10 * time.Minute
)

// NewEmailCode returns a fresh six-digit code for userID and the hash to store as a
// storage.OneTimeToken with purpose storage.TokenEmailCode (Service.SendEmailCode does both).
//
// The hash covers the user id as well as the code (EmailCodeHash). It must: one_time_tokens is
// keyed by the hash alone, and with only 10^6 codes two people would soon hold the same one,
// so a bare hash of the code would collide on insert and, worse, let one person's guess
// consume another person's code.
func NewEmailCode(userID string) (code, hash string) {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000)) // uniform; crypto/rand never fails
	s := strconv.FormatInt(n.Int64(), 10)
	code = strings.Repeat("0", EmailCodeDigits-len(s)) + s
	return code, EmailCodeHash(userID, code)
}

// EmailCodeHash returns the lookup hash of an emailed code as typed by userID (spaces and
// dashes ignored). A code that is not EmailCodeDigits digits hashes to "", which nothing
// stored matches.
func EmailCodeHash(userID, code string) string {
	code = normalizeDigits(code)
	if len(code) != EmailCodeDigits || !allDigits(code) || userID == "" {
		return ""
	}
	// ':' cannot occur in a user id (secret.NewID), so the input is unambiguous.
	return secret.HashToken("email-code:" + userID + ":" + code)
}
