//! mbedTLS error codes in words a user understands.

use std::ffi::{c_char, c_int, CStr};

use mbedtls_rs_sys as sys;

use super::bio::{NET_RECV_FAILED, NET_SEND_FAILED};
use crate::error::TlsError;

extern "C" {
    // From mbedtls/error.h, which the bindings leave out (`MBEDTLS_ERROR_C` is on in this
    // build). Both take any code and return a static string, or NULL when they have none.
    fn mbedtls_high_level_strerr(error_code: c_int) -> *const c_char;
    fn mbedtls_low_level_strerr(error_code: c_int) -> *const c_char;
}

/// The high-level part of an mbedTLS error code (SSL, X.509, PK, PEM: bits 7 to 15) as a
/// negative code, or 0. mbedTLS adds a low-level code (network, crypto primitive) to it.
pub(crate) fn high_level(code: c_int) -> c_int {
    -(code.wrapping_neg() & 0xFF80)
}

/// The low-level part of an mbedTLS error code (bits 0 to 6) as a negative code, or 0.
pub(crate) fn low_level(code: c_int) -> c_int {
    -(code.wrapping_neg() & 0x007F)
}

/// mbedTLS's own description, e.g. `"SSL - A fatal alert message was received from our
/// peer"`: the high-level part's, else the low-level part's.
fn mbedtls_text(code: c_int) -> Option<&'static str> {
    // SAFETY: both functions accept any code and return NULL or a static NUL-terminated
    // string.
    let text = unsafe {
        match mbedtls_high_level_strerr(code) {
            high if !high.is_null() => high,
            _ => mbedtls_low_level_strerr(code),
        }
    };
    if text.is_null() {
        return None;
    }
    // SAFETY: a static NUL-terminated string, as above.
    unsafe { CStr::from_ptr(text) }.to_str().ok()
}

/// What `code` means: this crate's explanation where there is one, else mbedTLS's own
/// description.
pub(crate) fn text(code: c_int) -> &'static str {
    explanation(code)
        .or_else(|| mbedtls_text(code))
        .unwrap_or("unknown mbedTLS error")
}

/// `code` as a [`TlsError`], explained by [`text`].
pub(crate) fn tls_error(code: c_int) -> TlsError {
    TlsError::mbedtls(code, text(code))
}

/// A sentence describing `code` for users, or `None` for codes without one.
fn explanation(code: c_int) -> Option<&'static str> {
    let high = high_level(code);
    if high == 0 {
        return match low_level(code) {
            NET_RECV_FAILED => Some("reading from the connection failed"),
            NET_SEND_FAILED => Some("writing to the connection failed"),
            sys::MBEDTLS_ERR_ENTROPY_SOURCE_FAILED => {
                Some("the operating system's random generator failed")
            }
            _ => None,
        };
    }
    Some(match high {
        sys::MBEDTLS_ERR_SSL_CONN_EOF => "the peer closed the connection",
        sys::MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY => "the peer closed the TLS session",
        sys::MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE => {
            "the peer aborted with a fatal alert (it may reject our certificate, protocol \
             version or cipher suites)"
        }
        sys::MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE => {
            "no cipher suite, key exchange group or signature algorithm in common with the peer"
        }
        sys::MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION => {
            "no TLS version in common with the peer (only the configured versions are offered)"
        }
        sys::MBEDTLS_ERR_SSL_DECODE_ERROR => {
            "the peer sent a malformed TLS message (is it speaking TLS?)"
        }
        sys::MBEDTLS_ERR_SSL_INVALID_RECORD => {
            "received data that is not a valid TLS record (is the peer speaking TLS?)"
        }
        sys::MBEDTLS_ERR_SSL_INVALID_MAC => {
            "a TLS record failed its integrity check (corrupted data)"
        }
        sys::MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE | sys::MBEDTLS_ERR_SSL_UNEXPECTED_RECORD => {
            "the peer sent an unexpected TLS message"
        }
        sys::MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER => "the peer sent an invalid handshake parameter",
        sys::MBEDTLS_ERR_SSL_UNSUPPORTED_EXTENSION => {
            "the peer sent a TLS extension it must not send"
        }
        sys::MBEDTLS_ERR_SSL_BAD_CERTIFICATE => "the peer's certificate message was malformed",
        sys::MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE => "the peer requires a client certificate",
        sys::MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED => "no trusted CA certificates are configured",
        sys::MBEDTLS_ERR_SSL_PRIVATE_KEY_REQUIRED => {
            "no certificate and private key are configured"
        }
        sys::MBEDTLS_ERR_X509_CERT_VERIFY_FAILED => "the peer's certificate could not be verified",
        sys::MBEDTLS_ERR_SSL_ALLOC_FAILED
        | sys::MBEDTLS_ERR_X509_ALLOC_FAILED
        | sys::MBEDTLS_ERR_PEM_ALLOC_FAILED
        | sys::MBEDTLS_ERR_PK_ALLOC_FAILED => "out of memory",
        sys::MBEDTLS_ERR_SSL_BAD_INPUT_DATA => "invalid input to mbedTLS",
        sys::MBEDTLS_ERR_SSL_BAD_CONFIG => "mbedTLS rejected the TLS configuration",
        sys::MBEDTLS_ERR_SSL_INTERNAL_ERROR => "internal mbedTLS error",
        sys::MBEDTLS_ERR_SSL_COUNTER_WRAPPING => {
            "too many records on one session (sequence number wrap)"
        }
        sys::MBEDTLS_ERR_PK_PASSWORD_REQUIRED => {
            "the key is encrypted; an unencrypted key is required"
        }
        sys::MBEDTLS_ERR_PK_KEY_INVALID_FORMAT | sys::MBEDTLS_ERR_PK_KEY_INVALID_VERSION => {
            "not a valid private key"
        }
        sys::MBEDTLS_ERR_PK_UNKNOWN_PK_ALG | sys::MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE => {
            "unsupported key algorithm or curve"
        }
        sys::MBEDTLS_ERR_PK_INVALID_PUBKEY => "not a valid public key",
        sys::MBEDTLS_ERR_X509_INVALID_FORMAT | sys::MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT => {
            "not a valid X.509 certificate"
        }
        sys::MBEDTLS_ERR_X509_INVALID_DATE => "the certificate has an invalid validity date",
        sys::MBEDTLS_ERR_X509_INVALID_SIGNATURE | sys::MBEDTLS_ERR_X509_SIG_MISMATCH => {
            "the certificate's signature is malformed"
        }
        sys::MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG | sys::MBEDTLS_ERR_X509_UNKNOWN_VERSION => {
            "the certificate uses an unsupported signature algorithm or version"
        }
        sys::MBEDTLS_ERR_X509_INVALID_EXTENSIONS => "the certificate has malformed extensions",
        sys::MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE | sys::MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE => {
            "the certificate or key uses a feature this mbedTLS build lacks"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_in_words() {
        let e = tls_error(sys::MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
        assert!(e.to_string().starts_with("the peer aborted"), "{e}");
        assert!(e.to_string().ends_with("(mbedTLS error -0x7780)"), "{e}");
        assert_eq!(e.mbedtls_code(), Some(-0x7780));
        // A high-level code plus a low-level one is explained by its high-level part.
        let e = tls_error(sys::MBEDTLS_ERR_X509_INVALID_FORMAT + sys::MBEDTLS_ERR_ASN1_OUT_OF_DATA);
        assert!(
            e.to_string().starts_with("not a valid X.509 certificate"),
            "{e}"
        );
        // Without an explanation here, mbedTLS's own words.
        let e = tls_error(sys::MBEDTLS_ERR_SSL_CACHE_ENTRY_NOT_FOUND);
        assert!(e.to_string().starts_with("SSL - "), "{e}");
        let e = tls_error(NET_SEND_FAILED);
        assert!(
            e.to_string()
                .starts_with("writing to the connection failed"),
            "{e}"
        );
    }
}
