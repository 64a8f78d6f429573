package fault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/wrap"
)

// GuardStore wraps a store so that every call runs under a deadline of timeout (a transaction
// as a whole), and every failure that is not a domain outcome (not found, conflict, already
// used, expired, revoked) is logged at ERROR with its cause, marked ErrUnavailable and
// recorded in the request's context. A stalled database thus costs a request at most timeout,
// and is answered as our failure.
func GuardStore(inner storage.Store, timeout time.Duration, log *slog.Logger) storage.Store {
	if log == nil {
		log = slog.Default()
	}
	return wrap.New(inner, func(ctx context.Context, method string, next func(context.Context) error) error {
		// Once a call of this request ran out of time the database is stalled: further calls
		// would each wait out their own deadline, so they fail at once and the request is
		// answered within one deadline.
		if rec := FromContext(ctx); rec != nil && errors.Is(rec.Err(), context.DeadlineExceeded) {
			return Mark(fmt.Errorf("%s skipped: %w", method, rec.Err()))
		}
		callCtx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			callCtx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		err := next(callCtx)
		if !storage.Failed(err) {
			return err
		}
		var ce *wrap.CallbackError
		if errors.As(err, &ce) {
			return err // the transaction's caller decided; its leaf failures were seen already
		}
		if Is(err) {
			return Record(ctx, err) // marked below us (a nested call); log once
		}
		switch {
		case ctx.Err() != nil:
			// The caller went away (client disconnected, server shutting down).
			log.WarnContext(ctx, "database call abandoned", "method", method, "err", err)
		case callCtx.Err() != nil:
			log.ErrorContext(ctx, "database call exceeded its deadline", "method", method, "timeout", timeout, "err", err)
		default:
			log.ErrorContext(ctx, "database call failed", "method", method, "err", err)
		}
		return Record(ctx, err)
	})
}
