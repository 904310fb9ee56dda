//! placeholder
mod redis_support;
