//! Bindings to DPDK (work in progress).
