//! Small helpers shared by the runtime's modules.

pub(crate) mod cache_padded;
pub(crate) mod coarse_clock;
pub(crate) mod rand;
