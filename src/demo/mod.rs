pub mod citizens;
pub mod echo;
pub mod provider;
