//! Safe wrappers over DPDK for the dpdk backend (work in progress).
