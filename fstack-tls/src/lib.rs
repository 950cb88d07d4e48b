//! TLS over non-blocking streams (in progress).
