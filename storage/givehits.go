package storage

import (
	"context"
	"errors"
	"time"
)

// Hit is one counter hit (HitCounter) of key with its window.
type Hit struct {
	Key    string
	Window time.Duration
}

// giveBackTimeout bounds GiveBack, which runs even when the request was cancelled.
const giveBackTimeout = 5 * time.Second

// GiveBack takes back hits made at at (UnhitCounter), each from its own window: what a request
// counted before it knew its outcome, when our failure kept it from one (a password or code
// check cut short, a mail not queued). It runs past ctx's cancellation, bounded, and returns
// the failures joined for the caller to log: a hit not given back expires with its window.
func GiveBack(ctx context.Context, st CounterStore, at time.Time, hits ...Hit) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), giveBackTimeout)
	defer cancel()
	var errs []error
	for _, h := range hits {
		errs = append(errs, st.UnhitCounter(ctx, h.Key, h.Window, at))
	}
	return errors.Join(errs...)
}
