//! Request handlers: `async fn(&State, ..) -> Result<Response>`. They call the
//! domain and the store; they never write SQL or parse paths.

pub mod admin;
pub mod api;
pub mod assets;
pub mod family;
pub mod health;
pub mod kiosk;
pub mod staff;
