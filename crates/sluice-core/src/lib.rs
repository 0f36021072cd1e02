//! The sluice engine.
