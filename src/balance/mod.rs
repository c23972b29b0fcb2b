//! Balancing algorithms, one small type per file, each tested by its exact picks.

mod round_robin;

pub use round_robin::RoundRobin;
