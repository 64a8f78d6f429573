package fault_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/myaccount/myaccount/internal/fault"
)

// TestUndoRunsOnceLastFirst: what a request registered with OnFailure runs when its
// Recorder is undone, the last registered first, once; its errors are returned joined.
// Without a Recorder nothing is kept.
func TestUndoRunsOnceLastFirst(t *testing.T) {
	t.Parallel()
	ctx, rec := fault.NewContext(context.Background())
	var ran []string
	boom := errors.New("boom")
	fault.OnFailure(ctx, func(context.Context) error { ran = append(ran, "first"); return nil })
	fault.OnFailure(ctx, func(context.Context) error { ran = append(ran, "second"); return boom })
	if err := rec.Undo(context.Background()); !errors.Is(err, boom) {
		t.Errorf("Undo: %v, want the failing undo's error", err)
	}
	if want := []string{"second", "first"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if err := rec.Undo(context.Background()); err != nil || len(ran) != 2 {
		t.Errorf("a second Undo: %v, ran %v: want nothing run again", err, ran)
	}
	fault.OnFailure(context.Background(), func(context.Context) error { t.Error("ran without a Recorder"); return nil })
	var none *fault.Recorder
	if err := none.Undo(context.Background()); err != nil {
		t.Errorf("nil Recorder: %v", err)
	}
}
