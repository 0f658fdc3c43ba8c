pub mod citizens;
