package storage

import "context"

// A store runs a transaction again when it failed only because of concurrency (a PostgreSQL
// deadlock or serialization failure): InTx calls its fn once per attempt. Code that derives
// values per call of fn (the outbox's item and event ids within a task's run, which must
// come out the same on every run of the task) would derive them anew on the second
// attempt, and a later run of the task, whose transaction did not have to be retried,
// would then not recognise what the retried one committed. An attempt hook lets such code
// start every attempt from where the first began.

type attemptKey struct{}

// WithTxAttempts returns ctx with begin, which a store calls when it begins the first attempt
// of an outermost InTx with ctx; the func begin returns is called before every further
// attempt, to restore what begin saw.
func WithTxAttempts(ctx context.Context, begin func() (restore func())) context.Context {
	return context.WithValue(ctx, attemptKey{}, begin)
}

// TxAttempts returns the attempt hook ctx carries (nil for none).
func TxAttempts(ctx context.Context) func() (restore func()) {
	begin, _ := ctx.Value(attemptKey{}).(func() func())
	return begin
}
