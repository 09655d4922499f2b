//! Knotwork's catalog service (being built).
