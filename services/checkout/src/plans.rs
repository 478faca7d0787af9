pub use ::plans::*;
