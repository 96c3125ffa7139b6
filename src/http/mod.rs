//! The HTTP face of bedside: a raw hyper 1 server, one router, thin handlers.

pub mod forms;
mod handlers;
pub mod pages;
pub mod qr;
pub mod response;
pub mod router;
pub mod server;
pub mod session;
pub mod throttle;

pub use server::serve;
