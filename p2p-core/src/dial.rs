//! The dial scheduler.
