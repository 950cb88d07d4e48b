//! Support code shared by the runnable examples in `examples/`.
