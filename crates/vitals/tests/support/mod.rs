//! Test support shared by the scenario tests and the false-alarm measurement.
pub mod replay;
pub mod sim;
