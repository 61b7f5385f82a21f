//! Flow classification of Ethernet frames (work in progress).
#![forbid(unsafe_code)]
