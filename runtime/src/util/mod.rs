//! Small helpers shared by the runtime's modules.

pub(crate) mod coarse_clock;
pub(crate) mod rand;
