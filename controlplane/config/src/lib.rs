//! The mmsc configuration.
