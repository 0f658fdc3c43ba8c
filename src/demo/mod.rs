pub mod citizens;
pub mod echo;
