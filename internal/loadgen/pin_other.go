//go:build !linux

package loadgen

import "errors"

// pinThread is Linux-only; elsewhere the ceiling is measured on the bench's cores.
func pinThread(int) (func() error, error) {
	return nil, errors.New("loadgen: pinning a thread to a CPU needs Linux")
}
