//! Helpers shared by the end-to-end tests: where the vectors are, how to run real peers.
