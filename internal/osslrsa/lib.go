package osslrsa

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The few OpenSSL 3 entry points we call, declared here with opaque pointers so that no
// OpenSSL headers (no -dev package) are needed to build. The signatures are those of
// OpenSSL 3.0's public API (EVP_PKEY_sign(3), d2i_PrivateKey(3), ERR_get_error(3), ...).
typedef struct ossl_fns {
	void *handle;
	unsigned int (*version_major)(void);
	const char *(*version)(int);
	void *(*d2i_private_key)(int, void **, const unsigned char **, long);
	void (*pkey_free)(void *);
	int (*pkey_get_size)(const void *);
	int (*pkey_get_base_id)(const void *);
	void *(*ctx_new)(void *, void *);
	void (*ctx_free)(void *);
	int (*sign_init)(void *);
	int (*set_rsa_padding)(void *, int);
	int (*set_signature_md)(void *, const void *);
	const void *(*sha256)(void);
	int (*sign)(void *, unsigned char *, size_t *, const unsigned char *, size_t);
	void (*err_clear)(void);
	unsigned long (*err_get)(void);
	void (*err_string_n)(unsigned long, char *, size_t);
} ossl_fns;

enum { OSSL_EVP_PKEY_RSA = 6, OSSL_RSA_PKCS1_PADDING = 1, OSSL_OPENSSL_VERSION = 0 };

// ossl_open loads the library called name and resolves every symbol into a freshly
// allocated table. On failure it returns NULL with a message in err, and unloads the
// library again: nothing of it has run yet.
static ossl_fns *ossl_open(const char *name, char *err, size_t errlen) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "dlopen failed");
		return NULL;
	}
	ossl_fns *f = calloc(1, sizeof *f);
	if (f == NULL) {
		dlclose(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->handle = h;
#define SYM(field, sym) \
	if ((*(void **)&f->field = dlsym(h, sym)) == NULL) { \
		snprintf(err, errlen, "%s: symbol %s not found (not OpenSSL 3?)", name, sym); \
		free(f); \
		dlclose(h); \
		return NULL; \
	}
	SYM(version_major, "OPENSSL_version_major")
	SYM(version, "OpenSSL_version")
	SYM(d2i_private_key, "d2i_PrivateKey")
	SYM(pkey_free, "EVP_PKEY_free")
	SYM(pkey_get_size, "EVP_PKEY_get_size")
	SYM(pkey_get_base_id, "EVP_PKEY_get_base_id")
	SYM(ctx_new, "EVP_PKEY_CTX_new")
	SYM(ctx_free, "EVP_PKEY_CTX_free")
	SYM(sign_init, "EVP_PKEY_sign_init")
	SYM(set_rsa_padding, "EVP_PKEY_CTX_set_rsa_padding")
	SYM(set_signature_md, "EVP_PKEY_CTX_set_signature_md")
	SYM(sha256, "EVP_sha256")
	SYM(sign, "EVP_PKEY_sign")
	SYM(err_clear, "ERR_clear_error")
	SYM(err_get, "ERR_get_error")
	SYM(err_string_n, "ERR_error_string_n")
#undef SYM
	return f;
}

static unsigned int ossl_version_major(const ossl_fns *f) { return f->version_major(); }

static const char *ossl_version(const ossl_fns *f) { return f->version(OSSL_OPENSSL_VERSION); }

// ossl_take_error returns the oldest error on this thread's queue and empties it. OpenSSL's
// error queue is per thread and a goroutine may change threads between cgo calls, so every
// operation clears, runs and collects its error inside one C call.
static unsigned long ossl_take_error(const ossl_fns *f) {
	unsigned long e = f->err_get();
	f->err_clear();
	return e;
}

static void ossl_error_string(const ossl_fns *f, unsigned long e, char *buf, size_t len) {
	f->err_string_n(e, buf, len);
}

// ossl_load_key parses a PKCS#1 RSAPrivateKey DER into an EVP_PKEY, checking that all of
// der was consumed and that the key is RSA with a signature size of want bytes.
static void *ossl_load_key(const ossl_fns *f, const unsigned char *der, long len, int want, unsigned long *err) {
	f->err_clear();
	const unsigned char *p = der;
	void *pkey = f->d2i_private_key(OSSL_EVP_PKEY_RSA, NULL, &p, len);
	if (pkey == NULL) {
		*err = ossl_take_error(f);
		return NULL;
	}
	if (p != der + len || f->pkey_get_base_id(pkey) != OSSL_EVP_PKEY_RSA || f->pkey_get_size(pkey) != want) {
		f->pkey_free(pkey);
		*err = 0;
		return NULL;
	}
	return pkey;
}

static void ossl_free_key(const ossl_fns *f, void *pkey) { f->pkey_free(pkey); }

// ossl_sign makes an RSASSA-PKCS1-v1_5 signature over a SHA-256 digest with a context of its
// own (contexts must not be shared between threads; the EVP_PKEY may be). It returns 0 on
// success, else the number of the step that failed, with OpenSSL's error in *err.
static int ossl_sign(const ossl_fns *f, void *pkey, const unsigned char *digest, size_t dlen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	int step = 0;
	f->err_clear();
	void *ctx = f->ctx_new(pkey, NULL);
	if (ctx == NULL) {
		step = 1;
	} else if (f->sign_init(ctx) <= 0) {
		step = 2;
	} else if (f->set_rsa_padding(ctx, OSSL_RSA_PKCS1_PADDING) <= 0) {
		step = 3;
	} else if (f->set_signature_md(ctx, f->sha256()) <= 0) {
		step = 4;
	} else if (f->sign(ctx, sig, siglen, digest, dlen) <= 0) {
		step = 5;
	}
	if (ctx != NULL) {
		f->ctx_free(ctx);
	}
	*err = step ? ossl_take_error(f) : 0;
	return step;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// libNames are tried in order: the versioned name that OpenSSL 3 runtime packages install
// (Debian's libssl3), then the unversioned development symlink.
var libNames = []string{"libcrypto.so.3", "libcrypto.so"}

// lib is a loaded libcrypto. It is never unloaded: OpenSSL registers exit handlers once it
// has run, and a process keeps one copy of a library anyway.
type lib struct {
	fns     *C.ossl_fns
	version string // OpenSSL_version(OPENSSL_VERSION), for the log
}

// open loads the first of names that dlopen finds and that exports every symbol we use,
// and checks it is OpenSSL 3. It does not run the self-test (see load).
func open(names []string) (*lib, error) {
	var errs []error
	for _, name := range names {
		cname := C.CString(name)
		var buf [256]C.char
		f := C.ossl_open(cname, &buf[0], C.size_t(len(buf)))
		C.free(unsafe.Pointer(cname))
		if f == nil {
			errs = append(errs, errors.New(C.GoString(&buf[0])))
			continue
		}
		// Every prototype above is OpenSSL 3's ABI; another major version may differ.
		if v := C.ossl_version_major(f); v != 3 {
			errs = append(errs, fmt.Errorf("%s is OpenSSL %d, want 3", name, v))
			// Left loaded: it has run, and unloading a libcrypto that has run is unsafe.
			continue
		}
		return &lib{fns: f, version: C.GoString(C.ossl_version(f))}, nil
	}
	return nil, fmt.Errorf("osslrsa: load libcrypto: %w", errors.Join(errs...))
}

// opensslError formats OpenSSL's packed error code e; 0 means no reason was queued.
func (l *lib) opensslError(e C.ulong) string {
	if e == 0 {
		return "no OpenSSL error queued"
	}
	var buf [256]C.char
	C.ossl_error_string(l.fns, e, &buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}

// loadKey hands the DER of an RSA private key to OpenSSL and returns the EVP_PKEY.
func (l *lib) loadKey(der []byte, size int) (unsafe.Pointer, error) {
	if len(der) == 0 {
		return nil, errors.New("osslrsa: empty key")
	}
	var e C.ulong
	pkey := C.ossl_load_key(l.fns, (*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), C.int(size), &e)
	if pkey == nil {
		return nil, fmt.Errorf("osslrsa: OpenSSL did not take the key: %s", l.opensslError(e))
	}
	return pkey, nil
}

// freeKey releases an EVP_PKEY from loadKey.
func (l *lib) freeKey(pkey unsafe.Pointer) { C.ossl_free_key(l.fns, pkey) }

// sign writes the PKCS#1 v1.5 SHA-256 signature of digest into sig (the modulus size) and
// returns its length.
func (l *lib) sign(pkey unsafe.Pointer, digest, sig []byte) (int, error) {
	var e C.ulong
	n := C.size_t(len(sig))
	step := C.ossl_sign(l.fns, pkey, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n, &e)
	if step != 0 {
		return 0, fmt.Errorf("osslrsa: EVP_PKEY_sign step %d failed: %s", int(step), l.opensslError(e))
	}
	return int(n), nil
}
