//go:build !linux

package sqlite

import "context"

// memAvailable is unknown here (no /proc/meminfo), so Prewarm skips the warm-up.
func memAvailable() (int64, error) { return 0, errPrewarmUnsupported }

// warmFile is never reached without memAvailable; it says so if it is.
func warmFile(context.Context, string, *pacer) error { return errPrewarmUnsupported }
