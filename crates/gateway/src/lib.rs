//! Knotwork's gateway service (being built).
