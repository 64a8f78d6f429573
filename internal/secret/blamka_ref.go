// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE.argon2 file.

//go:build !amd64 || purego || !gc

package secret

// useSSE4 is never set off amd64; it exists so the tests compile everywhere.
var useSSE4 = false

func processBlock(out, in1, in2 *block) { processBlockGeneric(out, in1, in2, false) }

func processBlockXOR(out, in1, in2 *block) { processBlockGeneric(out, in1, in2, true) }
