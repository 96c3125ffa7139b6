//! Admin pages under `/staff/admin`: units, tablets (with device links),
//! staff accounts, API keys, the audit trail and per-unit statistics.
//! Admins only; every change is a CSRF-checked POST and is audited.

use bytes::Bytes;

use crate::State;
use crate::error::{Error, Result};
use crate::http::response::Response;

type Request = http::Request<Bytes>;

// Placeholders, replaced as the admin pages are written.
pub async fn admin_home(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn units_list(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn unit_create(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn unit_update(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn tablets_list(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn tablet_create(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn tablet_active(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn tablet_device_link(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn staff_list(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn staff_create(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn staff_update(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn staff_password(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn apikeys_list(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn apikey_create(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn apikey_revoke(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn audit_list(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn stats_show(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
