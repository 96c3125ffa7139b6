//! The HTTP face of bedside: a raw hyper 1 server, one router, thin handlers.

mod handlers;
pub mod qr;
pub mod response;
pub mod router;
pub mod server;

pub use server::serve;
