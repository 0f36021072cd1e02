//! Concrete components.
