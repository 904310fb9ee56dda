//! brama-sync (under construction)
