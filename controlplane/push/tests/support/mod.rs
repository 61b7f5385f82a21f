//! Test support: real peers started on loopback.

pub mod kannel;
