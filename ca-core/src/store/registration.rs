//! The registration capability of the store: organisations, officers and requests.

use super::{OfficerRecord, OrgRecord, RequestRecord, RequestState};
use crate::error::Result;

/// Registration (登録分局): organisations, their registered names, officers and requests.
pub trait Registration: Send {
    /// Registers an organisation (refuses a code that exists).
    fn add_org(&mut self, actor: &str, org: &OrgRecord) -> Result<()>;

    /// All organisations, by code.
    fn orgs(&self) -> Result<Vec<OrgRecord>>;

    /// Registers names (DNS domains or IP networks, as `OrgName` text) as organisation `org`'s,
    /// in one transaction with an audit record; refuses a name registered already.
    fn add_org_names(&mut self, actor: &str, org: &str, names: &[String]) -> Result<()>;

    /// Registered names as (organisation code, name), optionally of one organisation.
    fn org_names(&self, org: Option<&str>) -> Result<Vec<(String, String)>>;

    /// Registers an officer; returns its id.
    fn add_officer(&mut self, actor: &str, officer: &OfficerRecord) -> Result<i64>;

    /// All officers.
    fn officers(&self) -> Result<Vec<OfficerRecord>>;

    /// Removes officer `id` (their certificate no longer authenticates anyone), with its audit
    /// record. Returns the removed record, or None if there was no such officer.
    fn remove_officer(&mut self, actor: &str, id: i64) -> Result<Option<OfficerRecord>>;

    /// Records a new request; returns its id.
    fn add_request(&mut self, actor: &str, req: &RequestRecord) -> Result<i64>;

    /// One request.
    fn request(&self, id: i64) -> Result<Option<RequestRecord>>;

    /// Requests, optionally of one organisation and state, by id.
    fn requests(
        &self,
        org: Option<&str>,
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRecord>>;

    /// Moves a request from `from` to its new state (with the fields set on `req`), in one
    /// transaction with an audit record. Fails if the request is no longer in `from`.
    fn update_request(
        &mut self,
        actor: &str,
        req: &RequestRecord,
        from: RequestState,
        action: &str,
    ) -> Result<()>;
}
