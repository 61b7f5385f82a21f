//! The BPF programs and their loader (work in progress).
