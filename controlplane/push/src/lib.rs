//! Notification push senders.
