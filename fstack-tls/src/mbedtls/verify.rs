//! Certificate verification: the per-session verify callback, and mbedTLS's verify flags as
//! [`VerifyReason`]s.

use std::ffi::{c_int, c_void};
use std::net::IpAddr;

use mbedtls_rs_sys as sys;

use crate::certs::{is_self_signed, names_ip_address};
use crate::error::{VerifyFailure, VerifyReason};

/// Marker set by [`verify`]: the certificate is not trusted and signed itself. mbedTLS leaves
/// bits 20 and up of the verify flags to applications (its `MBEDTLS_X509_BADCERT_*` and
/// `BADCRL_*` flags end at bit 19).
const SELF_SIGNED: u32 = 1 << 20;

/// What a session checks beyond mbedTLS's own verification.
#[derive(Debug)]
pub(crate) struct Policy {
    /// `danger_accept_invalid_hostnames`: a name mismatch is forgiven.
    pub(crate) accept_invalid_hostnames: bool,
    /// The address an IP-literal host must be named by, as an iPAddress subjectAltName (RFC
    /// 9525 §6.3). mbedTLS 3.6 matches such names itself, but only when the address is given
    /// as the host name, which it then also sends as SNI, and SNI must not carry addresses
    /// (RFC 6066 §3). So the session gives mbedTLS no host name and the callback checks this.
    pub(crate) ip: Option<IpAddr>,
}

/// The verify callback (`mbedtls_ssl_set_verify`): mbedTLS calls it for each certificate of
/// the chain with the flags it found, and it adjusts the server certificate's (depth 0). A
/// flag set here fails the handshake inside mbedTLS, with the alert mbedTLS sends for its own
/// checks (bad_certificate for a name mismatch), before the client finishes the handshake.
///
/// # Safety
/// `ctx` points to the session's [`Policy`], `crt` to the certificate and `flags` to its
/// flags, as mbedTLS passes them, all valid for the call.
pub(crate) unsafe extern "C" fn verify(
    ctx: *mut c_void,
    crt: *mut sys::mbedtls_x509_crt,
    depth: c_int,
    flags: *mut u32,
) -> c_int {
    if depth != 0 {
        return 0;
    }
    // SAFETY: per this function's contract; nothing else accesses them during the call.
    let (policy, crt, flags) = unsafe { (&*ctx.cast::<Policy>(), &*crt, &mut *flags) };
    let der: &[u8] = if crt.raw.p.is_null() {
        &[]
    } else {
        // SAFETY: a parsed certificate's `raw` is its own DER copy, `len` bytes, alive as long
        // as the certificate (the whole call).
        unsafe { std::slice::from_raw_parts(crt.raw.p, crt.raw.len) }
    };
    if let Some(ip) = policy.ip {
        if !names_ip_address(der, ip) {
            *flags |= sys::MBEDTLS_X509_BADCERT_CN_MISMATCH;
        }
    }
    if policy.accept_invalid_hostnames {
        *flags &= !sys::MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    if *flags & sys::MBEDTLS_X509_BADCERT_NOT_TRUSTED != 0 && is_self_signed(der) {
        *flags |= SELF_SIGNED;
    }
    0
}

/// The failed checks behind mbedTLS verify flags (`mbedtls_ssl_get_verify_result`).
pub(crate) fn failure(flags: u32) -> VerifyFailure {
    let has = |bits: u32| flags & bits != 0;
    let self_signed = has(SELF_SIGNED);
    let checks = [
        (
            has(sys::MBEDTLS_X509_BADCERT_CN_MISMATCH),
            VerifyReason::HostnameMismatch,
        ),
        (self_signed, VerifyReason::SelfSigned),
        (
            has(sys::MBEDTLS_X509_BADCERT_NOT_TRUSTED) && !self_signed,
            VerifyReason::UntrustedIssuer,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_EXPIRED),
            VerifyReason::Expired,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_FUTURE),
            VerifyReason::NotYetValid,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_REVOKED),
            VerifyReason::Revoked,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_BAD_KEY | sys::MBEDTLS_X509_BADCERT_BAD_PK),
            VerifyReason::UnacceptableKey,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_BAD_MD),
            VerifyReason::UnacceptableHash,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_KEY_USAGE
                | sys::MBEDTLS_X509_BADCERT_EXT_KEY_USAGE
                | sys::MBEDTLS_X509_BADCERT_NS_CERT_TYPE),
            VerifyReason::WrongKeyUsage,
        ),
        (
            has(sys::MBEDTLS_X509_BADCERT_MISSING),
            VerifyReason::NoCertificate,
        ),
    ];
    let known = sys::MBEDTLS_X509_BADCERT_CN_MISMATCH
        | sys::MBEDTLS_X509_BADCERT_NOT_TRUSTED
        | sys::MBEDTLS_X509_BADCERT_EXPIRED
        | sys::MBEDTLS_X509_BADCERT_FUTURE
        | sys::MBEDTLS_X509_BADCERT_REVOKED
        | sys::MBEDTLS_X509_BADCERT_BAD_KEY
        | sys::MBEDTLS_X509_BADCERT_BAD_PK
        | sys::MBEDTLS_X509_BADCERT_BAD_MD
        | sys::MBEDTLS_X509_BADCERT_KEY_USAGE
        | sys::MBEDTLS_X509_BADCERT_EXT_KEY_USAGE
        | sys::MBEDTLS_X509_BADCERT_NS_CERT_TYPE
        | sys::MBEDTLS_X509_BADCERT_MISSING
        | sys::MBEDTLS_X509_BADCERT_SKIP_VERIFY
        | SELF_SIGNED;
    // Flags without a reason of their own (CRL problems, "other") add `Other`.
    let other = flags & !known != 0;
    let reasons = checks
        .iter()
        .filter(|(failed, _)| *failed)
        .map(|&(_, reason)| reason)
        .chain(other.then_some(VerifyReason::Other));
    VerifyFailure::new(reasons, Some(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_reasons() {
        let f = failure(sys::MBEDTLS_X509_BADCERT_CN_MISMATCH | sys::MBEDTLS_X509_BADCERT_EXPIRED);
        assert_eq!(
            f.reasons(),
            vec![VerifyReason::HostnameMismatch, VerifyReason::Expired]
        );
        assert_eq!(
            f.mbedtls_flags(),
            Some(sys::MBEDTLS_X509_BADCERT_CN_MISMATCH | sys::MBEDTLS_X509_BADCERT_EXPIRED)
        );
        let f = failure(sys::MBEDTLS_X509_BADCERT_NOT_TRUSTED | SELF_SIGNED);
        assert_eq!(f.reasons(), vec![VerifyReason::SelfSigned]);
        let f = failure(sys::MBEDTLS_X509_BADCERT_NOT_TRUSTED);
        assert_eq!(f.reasons(), vec![VerifyReason::UntrustedIssuer]);
        let f = failure(sys::MBEDTLS_X509_BADCERT_FUTURE);
        assert_eq!(f.reasons(), vec![VerifyReason::NotYetValid]);
        let f = failure(sys::MBEDTLS_X509_BADCRL_EXPIRED);
        assert_eq!(f.reasons(), vec![VerifyReason::Other]);
    }
}
