//! Knotwork's session service (being built).
