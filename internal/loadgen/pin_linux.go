package loadgen

import "golang.org/x/sys/unix"

// pinThread binds the calling OS thread (the caller holds LockOSThread) to one CPU and
// returns what puts its former CPUs back.
func pinThread(cpu int) (restore func() error, err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, err
	}
	return func() error { return unix.SchedSetaffinity(0, &old) }, nil
}
