//! MM1 over a user-space TCP stack (work in progress).
#![forbid(unsafe_code)]
