//! AES on the x86-64 AES-NI instructions, installed as mbedTLS's AES (`hook_aes` of
//! mbedtls-rs-sys) when the CPU has them.
//!
//! Why: mbedtls-rs-sys builds mbedTLS without `MBEDTLS_AESNI_C` and at `-Os`, and routes every
//! AES block through Rust to mbedTLS's table-based software AES. Opening a 460-byte AES-GCM
//! record took 3.1 µs (AES-128) and 3.5 µs (AES-256); with this hook 1.8 µs for both
//! (BENCHMARKS.md). GHASH stays mbedTLS's software code. Binance imposes AES-GCM, so that is the
//! record layer the feed runs on.
//!
//! Why not the RustCrypto `aes` crate: the hook keeps its state inside mbedTLS's context, a
//! 512-byte work area that mbedTLS may move and copy bitwise, so the state must be plain data
//! of at most 496 bytes (16 bytes of alignment slack). `aes` 0.8's runtime-detected ciphers
//! carry their bitsliced software fallback as well (704 bytes for AES-128, 960 for AES-256),
//! and keeping them behind a pointer would break when mbedTLS copies a context. This schedule
//! is 242 bytes of round keys.
//!
//! What: FIPS-197 — the key expansion of §5.2 (its SubWord by AESKEYGENASSIST, so no table
//! lookups on key bytes), the cipher with AESENC/AESENCLAST, and the equivalent inverse cipher
//! of §5.3.5 (AESIMC on the middle round keys, AESDEC/AESDECLAST). Checked against FIPS-197's
//! example vectors and mbedTLS's own AES and GCM self-tests, which run through the hook.

use std::arch::x86_64::{
    __m128i, _mm_aesdec_si128, _mm_aesdeclast_si128, _mm_aesenc_si128, _mm_aesenclast_si128,
    _mm_aesimc_si128, _mm_aeskeygenassist_si128, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_set_epi32,
    _mm_storeu_si128, _mm_xor_si128,
};

use mbedtls_rs_sys as sys;
use sys::hook::aes::{AesBlock, MbedtlsAes};
use sys::hook::{WorkArea, WorkAreaMemory};
use sys::MbedtlsError;

/// Installs the hook if the CPU has AES-NI; otherwise mbedTLS keeps its software AES.
///
/// # Safety
/// Must run before any AES context exists (contexts set up by another implementation hold its
/// state, not a [`Schedule`]): in `platform::init`, before any other mbedTLS call.
pub(crate) unsafe fn install() {
    if std::arch::is_x86_feature_detected!("aes") {
        // SAFETY: per this function's contract; `AES_NI` is 'static, and the check above is
        // what makes its `target_feature` calls sound.
        unsafe { sys::hook::aes::hook_aes(Some(&AES_NI)) };
    }
}

/// The hook. Only [`install`] hands it to mbedTLS, after checking for AES-NI.
struct AesNi;

static AES_NI: AesNi = AesNi;

/// The round keys of one AES key for one direction. Plain bytes (alignment 1, no pointers):
/// mbedTLS moves and copies contexts bitwise. Every byte pattern is a valid value, all zeros
/// being "no key", so the work area can never hold an invalid `Schedule`.
#[derive(Clone, Copy)]
struct Schedule {
    keys: [[u8; 16]; 15],
    /// 10, 12 or 14 once keyed; 0 before.
    rounds: u8,
    /// 1 for a decryption schedule.
    decrypt: u8,
}

impl Schedule {
    const NONE: Schedule = Schedule {
        keys: [[0; 16]; 15],
        rounds: 0,
        decrypt: 0,
    };

    /// True when keyed for `decrypt` (or for encryption).
    fn keyed_for(&self, decrypt: bool) -> bool {
        matches!(self.rounds, 10 | 12 | 14) && self.decrypt == u8::from(decrypt)
    }
}

#[inline(always)]
fn load(bytes: &[u8; 16]) -> __m128i {
    // SAFETY: an unaligned load of 16 readable bytes.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

#[inline(always)]
fn store(x: __m128i) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // SAFETY: an unaligned store into 16 writable bytes.
    unsafe { _mm_storeu_si128(bytes.as_mut_ptr().cast(), x) };
    bytes
}

/// Overwrites key material that is no longer needed, in a way the compiler keeps.
fn wipe<T: Copy>(value: &mut T) {
    // SAFETY: `value` is valid for writes of its size; zero bytes are a valid `T` for the
    // plain integer arrays passed here.
    unsafe { sys::mbedtls_platform_zeroize((value as *mut T).cast(), size_of::<T>()) };
}

/// SubWord of FIPS-197 §5.2: AESKEYGENASSIST applies the S-box to dword 1 of its input and
/// returns it in dword 0.
#[target_feature(enable = "aes")]
fn sub_word(w: u32) -> u32 {
    let x = _mm_set_epi32(0, 0, w as i32, 0);
    _mm_cvtsi128_si32(_mm_aeskeygenassist_si128::<0>(x)) as u32
}

impl Schedule {
    /// The schedule of a 16, 24 or 32-byte `key`; `None` for other lengths. Words are
    /// little-endian loads of the key bytes, so RotWord is a rotation right by 8 bits and Rcon
    /// sits in the low byte.
    #[target_feature(enable = "aes")]
    fn new(key: &[u8], decrypt: bool) -> Option<Schedule> {
        let rounds = match key.len() {
            16 => 10,
            24 => 12,
            32 => 14,
            _ => return None,
        };
        let nk = key.len() / 4;
        let mut w = [0u32; 60];
        for (word, bytes) in w.iter_mut().zip(key.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let mut rcon = 1u32;
        for i in nk..4 * (rounds + 1) {
            let mut t = w[i - 1];
            if i % nk == 0 {
                t = sub_word(t).rotate_right(8) ^ rcon;
                // xtime in GF(2^8).
                rcon = (rcon << 1) ^ if rcon & 0x80 != 0 { 0x11b } else { 0 };
            } else if nk > 6 && i % nk == 4 {
                t = sub_word(t);
            }
            w[i] = w[i - nk] ^ t;
        }
        let mut s = Schedule {
            rounds: rounds as u8,
            decrypt: u8::from(decrypt),
            ..Schedule::NONE
        };
        for (r, round_key) in s.keys.iter_mut().enumerate().take(rounds + 1) {
            for (j, word) in w[4 * r..4 * r + 4].iter().enumerate() {
                round_key[4 * j..4 * j + 4].copy_from_slice(&word.to_le_bytes());
            }
        }
        wipe(&mut w);
        if decrypt {
            // The equivalent inverse cipher: round keys in reverse order, InvMixColumns
            // applied to all but the first and the last.
            let mut enc = s.keys;
            for r in 0..=rounds {
                s.keys[r] = if r == 0 || r == rounds {
                    enc[rounds - r]
                } else {
                    store(_mm_aesimc_si128(load(&enc[rounds - r])))
                };
            }
            wipe(&mut enc);
        }
        Some(s)
    }

    #[target_feature(enable = "aes")]
    fn encrypt(&self, block: &mut AesBlock) {
        let last = usize::from(self.rounds);
        let mut x = _mm_xor_si128(load(block), load(&self.keys[0]));
        for round_key in &self.keys[1..last] {
            x = _mm_aesenc_si128(x, load(round_key));
        }
        *block = store(_mm_aesenclast_si128(x, load(&self.keys[last])));
    }

    #[target_feature(enable = "aes")]
    fn decrypt(&self, block: &mut AesBlock) {
        let last = usize::from(self.rounds);
        let mut x = _mm_xor_si128(load(block), load(&self.keys[0]));
        for round_key in &self.keys[1..last] {
            x = _mm_aesdec_si128(x, load(round_key));
        }
        *block = store(_mm_aesdeclast_si128(x, load(&self.keys[last])));
    }
}

/// The schedule in a context's work area.
fn state(memory: &mut WorkAreaMemory) -> &mut Schedule {
    // SAFETY: `Schedule` has alignment 1, fits the work area (242 of 512 bytes), and any bytes
    // are a valid `Schedule`, whatever the work area holds.
    unsafe { memory.cast_mut::<Schedule>() }
}

fn bad_input() -> MbedtlsError {
    MbedtlsError::new(sys::MBEDTLS_ERR_AES_BAD_INPUT_DATA)
}

impl MbedtlsAes for AesNi {
    fn init(&self, memory: &mut WorkAreaMemory) {
        *state(memory) = Schedule::NONE;
    }

    fn free(&self, memory: &mut WorkAreaMemory) {
        // SAFETY: the work area is valid for writes of its length; all zeros is "no key".
        unsafe { sys::mbedtls_platform_zeroize(memory.as_mut_ptr().cast(), memory.len()) };
    }

    fn set_enc_key(&self, memory: &mut WorkAreaMemory, key: &[u8]) -> Result<(), MbedtlsError> {
        // SAFETY: the hook is only installed on CPUs with AES-NI (`install`).
        let schedule = unsafe { Schedule::new(key, false) };
        *state(memory) =
            schedule.ok_or(MbedtlsError::new(sys::MBEDTLS_ERR_AES_INVALID_KEY_LENGTH))?;
        Ok(())
    }

    fn set_dec_key(&self, memory: &mut WorkAreaMemory, key: &[u8]) -> Result<(), MbedtlsError> {
        // SAFETY: as in `set_enc_key`.
        let schedule = unsafe { Schedule::new(key, true) };
        *state(memory) =
            schedule.ok_or(MbedtlsError::new(sys::MBEDTLS_ERR_AES_INVALID_KEY_LENGTH))?;
        Ok(())
    }

    fn encrypt(
        &self,
        memory: &mut WorkAreaMemory,
        block: &mut AesBlock,
    ) -> Result<(), MbedtlsError> {
        let s = state(memory);
        if !s.keyed_for(false) {
            return Err(bad_input());
        }
        // SAFETY: as in `set_enc_key`.
        unsafe { s.encrypt(block) };
        Ok(())
    }

    fn decrypt(
        &self,
        memory: &mut WorkAreaMemory,
        block: &mut AesBlock,
    ) -> Result<(), MbedtlsError> {
        let s = state(memory);
        if !s.keyed_for(true) {
            return Err(bad_input());
        }
        // SAFETY: as in `set_enc_key`.
        unsafe { s.decrypt(block) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// FIPS-197 Appendix C: AES-128, AES-192 and AES-256 on the same block.
    #[test]
    fn fips_197_example_vectors() {
        if !std::arch::is_x86_feature_detected!("aes") {
            eprintln!("SKIPPED: this CPU has no AES-NI");
            return;
        }
        let key: [u8; 32] = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        let plain: [u8; 16] = hex("00112233445566778899aabbccddeeff");
        for (len, cipher) in [
            (16, "69c4e0d86a7b0430d8cdb78070b4c55a"),
            (24, "dda97ca4864cdfe06eaf70a0ec0d7191"),
            (32, "8ea2b7ca516745bfeafc49904b496089"),
        ] {
            // SAFETY: AES-NI is present (checked above).
            let (enc, dec) = unsafe {
                (
                    Schedule::new(&key[..len], false).unwrap(),
                    Schedule::new(&key[..len], true).unwrap(),
                )
            };
            let mut block = plain;
            // SAFETY: as above.
            unsafe { enc.encrypt(&mut block) };
            assert_eq!(block, hex::<16>(cipher), "AES-{}", len * 8);
            // SAFETY: as above.
            unsafe { dec.decrypt(&mut block) };
            assert_eq!(block, plain, "AES-{} decryption", len * 8);
        }
        // SAFETY: as above.
        assert!(unsafe { Schedule::new(&key[..20], false) }.is_none());
    }

    /// mbedTLS's own AES (ECB, CBC, CFB, OFB, CTR, XTS) and GCM known-answer tests, through
    /// whatever AES the engine installed.
    #[test]
    fn mbedtls_self_tests_pass_through_the_hook() {
        super::super::platform::init().unwrap();
        // SAFETY: no arguments besides verbosity (0: silent); they use only their own
        // contexts.
        let (aes, gcm) = unsafe { (sys::mbedtls_aes_self_test(0), sys::mbedtls_gcm_self_test(0)) };
        assert_eq!((aes, gcm), (0, 0));
    }
}
