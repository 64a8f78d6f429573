//go:build !linux

package secret

import "time"

// threadCPU cannot be read here: the limiter reports wall time only.
func threadCPU() (time.Duration, bool) { return 0, false }
