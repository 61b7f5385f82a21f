//! AF_XDP packet I/O (work in progress).
