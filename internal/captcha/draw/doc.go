// Package draw draws the captcha's picture of digits (PNG) and its spoken digits (WAV). It is
// the digit and audio drivers of github.com/mojocn/base64Captcha v1.3.8 (Apache License 2.0,
// see LICENSE; the files keep their original headers), copied without the rest of that
// module: importing it decodes nine TrueType fonts and a CJK font collection into the heap at
// start-up (about 5 MB, for drivers we do not use) and links the 5.6 MB of font files into
// the binary. Changes: the package name, the id/answer generators and base64 helpers dropped
// (internal/captcha makes answers from crypto/rand and keeps state in SQL), and the few helpers
// the drivers need collected in util.go.
package draw
