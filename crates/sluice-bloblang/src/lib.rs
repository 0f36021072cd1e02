//! The Bloblang mapping language.
