//! Residents' links to one visit's questionnaire (web 問診): a capability in a URL, opened on a
//! phone without an account.
//!
//! This module never sees a link's token: the server hashes it (SHA-256) and passes the hash.
//! A link is live until it expires, is used (the response is submitted through it) or is
//! revoked (staff made a newer link for the same visit). The answers typed so far are kept as a
//! draft so the resident can close the page and resume. Making a link and submitting through it
//! are audited in the same transaction as the change; the server audits every opening.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{Actor, insert_audit};
use crate::db::new_id;
use crate::error::Result;
use crate::ids::{SubjectId, TenantId};
use crate::programs::{VisitResponse, write_visit_response};

/// A link as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionnaireLink {
    /// Identifier (not the token).
    pub id: String,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The visit whose questionnaire it opens.
    pub visit_id: String,
    /// The questionnaire version it shows.
    pub questionnaire_version: u32,
    /// Who made it (principal id).
    pub created_by: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unusable from then on, Unix ms.
    pub expires_at_ms: i64,
    /// When the response was submitted through it.
    pub used_at_ms: Option<i64>,
    /// When a newer link replaced it.
    pub revoked_at_ms: Option<i64>,
    /// The answers so far (an encoded `QuestionnaireResponse`).
    pub draft: Option<Vec<u8>>,
}

/// Whether a link can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// It opens the questionnaire.
    Live,
    /// The response was submitted through it.
    Used,
    /// Past its expiry.
    Expired,
    /// A newer link replaced it.
    Revoked,
}

impl QuestionnaireLink {
    /// Its state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> LinkState {
        if self.used_at_ms.is_some() {
            LinkState::Used
        } else if self.revoked_at_ms.is_some() {
            LinkState::Revoked
        } else if now_ms >= self.expires_at_ms {
            LinkState::Expired
        } else {
            LinkState::Live
        }
    }

    /// The audit actor of a resident acting through this link: no principal, the link.
    pub fn actor_id(&self) -> String {
        format!("questionnaire-link:{}", self.id)
    }
}

/// The audit role of a resident acting through a link.
pub const LINK_ROLE: &str = "resident";

/// A new link.
#[derive(Debug, Clone, Copy)]
pub struct NewQuestionnaireLink<'a> {
    /// Its tenant.
    pub tenant_id: &'a TenantId,
    /// The visit.
    pub visit_id: &'a str,
    /// The visit's resident's subject id (for the audit event).
    pub subject_id: &'a SubjectId,
    /// SHA-256 of the token, hex.
    pub token_sha256: &'a str,
    /// The questionnaire version it shows.
    pub questionnaire_version: u32,
    /// Unix ms.
    pub expires_at_ms: i64,
}

const COLUMNS: &str = "id, tenant_id, visit_id, questionnaire_version, created_by, created_at_ms, \
                       expires_at_ms, used_at_ms, revoked_at_ms, draft";

fn from_row(row: &AnyRow) -> Result<QuestionnaireLink> {
    let version: i64 = row.try_get("questionnaire_version")?;
    Ok(QuestionnaireLink {
        id: row.try_get("id")?,
        tenant_id: TenantId::new(row.try_get::<String, _>("tenant_id")?),
        visit_id: row.try_get("visit_id")?,
        questionnaire_version: u32::try_from(version).map_err(|_| {
            crate::StoreError::Corrupt("questionnaire link version out of range".into())
        })?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        used_at_ms: row.try_get("used_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
        draft: row.try_get("draft")?,
    })
}

impl Store {
    /// Makes a link for a visit, revoking the visit's earlier live links (one live link per
    /// visit), audited as `visit.questionnaire_link`. Returns the new link's id.
    pub async fn create_questionnaire_link(
        &self,
        actor: &Actor<'_>,
        link: NewQuestionnaireLink<'_>,
        now_ms: i64,
    ) -> Result<String> {
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE questionnaire_links SET revoked_at_ms = $1 \
             WHERE tenant_id = $2 AND visit_id = $3 AND used_at_ms IS NULL AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(link.tenant_id.as_str())
        .bind(link.visit_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO questionnaire_links (id, tenant_id, visit_id, token_sha256, \
             questionnaire_version, created_by, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(link.tenant_id.as_str())
        .bind(link.visit_id)
        .bind(link.token_sha256)
        .bind(i64::from(link.questionnaire_version))
        .bind(actor.principal_id)
        .bind(now_ms)
        .bind(link.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        insert_audit(
            &mut tx,
            actor,
            "visit.questionnaire_link",
            None,
            Some(link.subject_id.as_str()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The link whose token hashes to `token_sha256`, in any state.
    pub async fn questionnaire_link_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<QuestionnaireLink>> {
        let sql = format!("SELECT {COLUMNS} FROM questionnaire_links WHERE token_sha256 = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Keeps the answers so far; false when the link is no longer live.
    pub async fn save_questionnaire_draft(
        &self,
        link_id: &str,
        draft: &[u8],
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE questionnaire_links SET draft = $1, draft_at_ms = $2 \
             WHERE id = $3 AND used_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > $2",
        )
        .bind(draft.to_vec())
        .bind(now_ms)
        .bind(link_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the visit's response submitted through `link` and uses the link up, in one
    /// transaction (audited as `visit.response` by the link). False when the link is no longer
    /// live (used, revoked or expired meanwhile) or the visit is gone: nothing is stored then.
    pub async fn submit_questionnaire_by_link(
        &self,
        link: &QuestionnaireLink,
        subject_id: &SubjectId,
        response: &[u8],
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE questionnaire_links SET used_at_ms = $1, draft = NULL \
             WHERE id = $2 AND used_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > $1",
        )
        .bind(now_ms)
        .bind(&link.id)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(false);
        }
        let actor_id = link.actor_id();
        let actor = Actor {
            tenant_id: Some(link.tenant_id.as_str()),
            principal_id: &actor_id,
            role: LINK_ROLE,
        };
        let response = VisitResponse {
            visit_id: &link.visit_id,
            subject_id,
            version: link.questionnaire_version,
            response,
        };
        if !write_visit_response(&mut tx, &link.tenant_id, &actor, &response, now_ms).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> QuestionnaireLink {
        QuestionnaireLink {
            id: "l".into(),
            tenant_id: "t".into(),
            visit_id: "v".into(),
            questionnaire_version: 1,
            created_by: "p".into(),
            created_at_ms: 0,
            expires_at_ms: 1_000,
            used_at_ms: None,
            revoked_at_ms: None,
            draft: None,
        }
    }

    #[test]
    fn a_link_is_live_until_used_revoked_or_expired() {
        let l = link();
        assert_eq!(l.state(999), LinkState::Live);
        assert_eq!(l.state(1_000), LinkState::Expired);
        let used = QuestionnaireLink {
            used_at_ms: Some(5),
            ..link()
        };
        assert_eq!(used.state(10), LinkState::Used);
        assert_eq!(used.state(5_000), LinkState::Used, "used wins over expired");
        let revoked = QuestionnaireLink {
            revoked_at_ms: Some(5),
            ..link()
        };
        assert_eq!(revoked.state(10), LinkState::Revoked);
        assert_eq!(l.actor_id(), "questionnaire-link:l");
    }
}
