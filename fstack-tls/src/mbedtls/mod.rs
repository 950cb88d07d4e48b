//! The mbedTLS 3.6 engine (feature `mbedtls`).
