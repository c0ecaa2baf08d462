//! Small helpers shared by the runtime's modules.

pub(crate) mod rand;
