//! Benchmarks (filled in by the benchmark issues).
