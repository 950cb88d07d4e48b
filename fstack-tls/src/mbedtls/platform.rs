//! What mbedTLS needs from the platform, set up once per process: the operating system's
//! random generator, a wall clock and a timer, PSA initialisation, and a lock for the state
//! that sessions share.
//!
//! `mbedtls-rs-sys` builds mbedTLS for bare-metal targets too, so its fixed configuration has
//! no platform entropy, no time source and no threading support (`MBEDTLS_THREADING_C` is
//! off). Everything here fills one of those gaps.

use std::ffi::{c_int, c_void};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

// The `std` implementation of `critical-section`, which mbedtls-rs-sys's hooks take around
// every hooked call: linked for its `#[no_mangle]` symbols only.
use critical_section as _;
use mbedtls_rs_sys as sys;
use sys::hook::backend::std::{timer::StdTimer, wall_clock::StdWallClock};

use crate::error::{Error, TlsError};

/// Runs the process-wide set-up exactly once; every later call returns its outcome. Called
/// before any configuration is built or certificate parsed:
///
/// - the wall clock makes X.509 validity dates count: with the `hook-wall-clock` feature and
///   no clock installed mbedTLS fails every date check closed, and without the feature it
///   skips them (accepting expired certificates);
/// - `psa_crypto_init` must precede TLS 1.3, whose key schedule runs on PSA;
/// - AES on AES-NI (`aesni.rs`) must replace mbedTLS's before any AES context exists.
pub(crate) fn init() -> Result<(), Error> {
    static DONE: OnceLock<Result<(), sys::psa_status_t>> = OnceLock::new();
    let outcome = *DONE.get_or_init(|| {
        static TIMER: StdTimer = StdTimer;
        static CLOCK: StdWallClock = StdWallClock;
        // SAFETY: runs once, before any other mbedTLS call of this process (every way into
        // the engine passes here first), with hooks that live forever.
        unsafe {
            sys::hook::timer::hook_timer(Some(&TIMER));
            sys::hook::wall_clock::hook_wall_clock(Some(&CLOCK));
            #[cfg(target_arch = "x86_64")]
            super::aesni::install();
        }
        // SAFETY: no arguments; initialises PSA's global state, once.
        match unsafe { sys::psa_crypto_init() } {
            0 => Ok(()),
            status => Err(status),
        }
    });
    outcome.map_err(|status| {
        Error::Setup(TlsError::mbedtls(
            sys::MBEDTLS_ERR_SSL_INTERNAL_ERROR,
            format!("PSA crypto initialisation failed (PSA status {status})"),
        ))
    })
}

/// Guards what mbedTLS shares between sessions without `MBEDTLS_THREADING_C`: PSA's key-slot
/// table (TLS 1.3 handshakes import and destroy keys there) and values cached lazily inside
/// shared keys (RSA blinding and Montgomery constants, ECP comb tables of CA and server
/// keys). Context set-up, handshake steps and teardown hold it; the stream callbacks release
/// it around each read or write of the stream (see `bio.rs`), so a slow or blocking stream
/// never holds it. Reading and writing application data after the handshake touch only the
/// session's own state (record protection uses per-session cipher contexts, since
/// `MBEDTLS_USE_PSA_CRYPTO` is off) and do not take it (mbedtls-rs-sys's AES hook does take
/// its own global critical section around every AES block, so AES-GCM sessions on several
/// threads still serialise there).
static SHARED_STATE: Mutex<()> = Mutex::new(());

/// Takes [`SHARED_STATE`]. Poisoning is ignored: the lock guards no Rust data, and a panic of
/// a stream never unwinds through mbedTLS (it is caught and resumed after the call).
pub(crate) fn lock_shared() -> MutexGuard<'static, ()> {
    SHARED_STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `PSA_ERROR_INSUFFICIENT_ENTROPY` of `psa/crypto_values.h` (a cast macro, which the bindings
/// leave out).
const PSA_ERROR_INSUFFICIENT_ENTROPY: sys::psa_status_t = -148;

/// Fills `buf` from the operating system's random generator.
fn os_random(buf: &mut [u8]) -> bool {
    getrandom::getrandom(buf).is_ok()
}

/// The random generator of every configuration (`mbedtls_ssl_conf_rng`) and of key parsing:
/// the OS generator itself. It keeps no state, so sessions on any thread may call it at once.
///
/// # Safety
/// `out` is writable for `len` bytes (mbedTLS's `f_rng` contract).
pub(crate) unsafe extern "C" fn random(_ctx: *mut c_void, out: *mut u8, len: usize) -> c_int {
    if len == 0 {
        return 0;
    }
    // SAFETY: per this function's contract.
    let buf = unsafe { std::slice::from_raw_parts_mut(out, len) };
    if os_random(buf) {
        0
    } else {
        sys::MBEDTLS_ERR_ENTROPY_SOURCE_FAILED
    }
}

/// PSA's random source: this build sets `MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG` and leaves the
/// function to the application. The OS generator.
///
/// # Safety
/// mbedTLS passes `output` writable for `output_size` bytes and a writable `output_length`.
#[no_mangle]
pub unsafe extern "C" fn mbedtls_psa_external_get_random(
    _context: *mut sys::mbedtls_psa_external_random_context_t,
    output: *mut u8,
    output_size: usize,
    output_length: *mut usize,
) -> sys::psa_status_t {
    if output_size > 0 {
        // SAFETY: per this function's contract.
        let buf = unsafe { std::slice::from_raw_parts_mut(output, output_size) };
        if !os_random(buf) {
            return PSA_ERROR_INSUFFICIENT_ENTROPY;
        }
    }
    // SAFETY: per this function's contract.
    unsafe { *output_length = output_size };
    0
}
