//! [`Integrations`] on PostgreSQL: `integrations`, `pipelines`, `org_settings`,
//! `user_mappings`, `status_categories`.

use std::sync::Arc;

use tokio_postgres::Row;

use super::storage::{
    PgStorage, RFC3339_MS, Tx, backend, exec, int_id, int_id_w, json, query, query_opt,
};
use crate::storage::records::{
    IntegrationRecord, OrgSettingsRecord, PipelineRecord, StatusCategories,
};
use crate::storage::{Integrations, StorageError};

const INTEGRATION_COLS: &str = "SELECT id::text, to_char(created_at AT TIME ZONE 'UTC', '";

fn integration_sql(tail: &str) -> String {
    format!("{INTEGRATION_COLS}{RFC3339_MS}'), installed::text FROM integrations {tail}")
}

fn integration_row(row: &Row) -> Result<IntegrationRecord, StorageError> {
    let installed: String = row.get(2);
    Ok(IntegrationRecord {
        id: row.get(0),
        created_at: row.get(1),
        installed: serde_json::from_str(&installed).map_err(json("an integration record"))?,
    })
}

const PIPELINE_SQL: &str =
    "SELECT id, oauth_token, state::text, extract(epoch FROM created_at)::bigint FROM pipelines";

fn pipeline_row(row: &Row) -> Result<PipelineRecord, StorageError> {
    let state: String = row.get(2);
    Ok(PipelineRecord {
        id: row.get(0),
        oauth_token: row.get(1),
        state: serde_json::from_str(&state).map_err(json("a pipeline record"))?,
        created_unix: row.get(3),
    })
}

impl Integrations for PgStorage {
    fn integrations_generation(&self) -> Option<u64> {
        self.generations.integrations()
    }

    async fn next_integration_id(&self) -> Result<u64, StorageError> {
        let c = self.conn().await?;
        let row = query(
            &c,
            "allocating an integration id",
            "SELECT nextval(pg_get_serial_sequence('integrations', 'id'))",
            &[],
        )
        .await?;
        let id: i64 = row.first().map(|r| r.get(0)).unwrap_or_default();
        u64::try_from(id).map_err(|_| backend(format!("PostgreSQL: integration id {id} < 0")))
    }

    async fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), StorageError> {
        let id = int_id_w(&rec.id)?;
        let installed = serde_json::to_string(&rec.installed).map_err(json("an integration"))?;
        let c = self.conn().await?;
        exec(
            &c,
            "writing an integration",
            "INSERT INTO integrations (id, external_id, created_at, installed) \
             VALUES ($1, $2, $3::text::timestamptz, $4::text::jsonb) \
             ON CONFLICT (id) DO UPDATE SET external_id = EXCLUDED.external_id, \
             created_at = EXCLUDED.created_at, installed = EXCLUDED.installed",
            &[&id, &rec.external_id(), &rec.created_at, &installed],
        )
        .await?;
        Ok(())
    }

    async fn integration(&self, id: &str) -> Result<Option<Arc<IntegrationRecord>>, StorageError> {
        let Some(id) = int_id(id) else {
            return Ok(None);
        };
        let c = self.conn().await?;
        query_opt(
            &c,
            "reading an integration",
            &integration_sql("WHERE id = $1"),
            &[&id],
        )
        .await?
        .map(|r| integration_row(&r).map(Arc::new))
        .transpose()
    }

    async fn integration_by_external(
        &self,
        external_id: &str,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        let c = self.conn().await?;
        query_opt(
            &c,
            "reading an integration by external id",
            &integration_sql("WHERE external_id = $1"),
            &[&external_id],
        )
        .await?
        .map(|r| integration_row(&r))
        .transpose()
    }

    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StorageError> {
        let c = self.conn().await?;
        query(
            &c,
            "listing integrations",
            &integration_sql(r#"ORDER BY id::text COLLATE "C""#),
            &[],
        )
        .await?
        .iter()
        .map(integration_row)
        .collect()
    }

    async fn delete_integration(
        &self,
        id: &str,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        let Some(n) = int_id(id) else {
            return Ok(None);
        };
        let what = "deleting an integration";
        let tx = Tx::begin(self.conn().await?, what).await?;
        let deleted = query_opt(
            &tx,
            what,
            &format!(
                "DELETE FROM integrations WHERE id = $1 RETURNING id::text, \
                 to_char(created_at AT TIME ZONE 'UTC', '{RFC3339_MS}'), installed::text"
            ),
            &[&n],
        )
        .await?;
        for table in [
            "DELETE FROM org_settings WHERE integration_id = $1",
            "DELETE FROM user_mappings WHERE integration_id = $1",
            "DELETE FROM links WHERE integration_id = $1",
            "DELETE FROM moves WHERE integration_id = $1",
            "DELETE FROM status_categories WHERE integration_id = $1",
            "DELETE FROM dead_letters WHERE integration_id = $1",
        ] {
            exec(&tx, what, table, &[&n]).await?;
        }
        tx.commit(what).await?;
        self.link_keys.wrote();
        deleted.map(|r| integration_row(&r)).transpose()
    }

    async fn put_pipeline(&self, rec: &PipelineRecord) -> Result<(), StorageError> {
        let state = serde_json::to_string(&rec.state).map_err(json("a pipeline"))?;
        let c = self.conn().await?;
        exec(
            &c,
            "writing a pipeline",
            "INSERT INTO pipelines (id, oauth_token, state, created_at) \
             VALUES ($1, $2, $3::text::jsonb, to_timestamp($4::bigint)) \
             ON CONFLICT (id) DO UPDATE SET oauth_token = EXCLUDED.oauth_token, \
             state = EXCLUDED.state, created_at = EXCLUDED.created_at",
            &[&rec.id, &rec.oauth_token, &state, &rec.created_unix],
        )
        .await?;
        Ok(())
    }

    async fn pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StorageError> {
        let c = self.conn().await?;
        query_opt(
            &c,
            "reading a pipeline",
            &format!("{PIPELINE_SQL} WHERE id = $1"),
            &[&id],
        )
        .await?
        .map(|r| pipeline_row(&r))
        .transpose()
    }

    async fn pipeline_by_token(&self, token: &str) -> Result<Option<PipelineRecord>, StorageError> {
        let c = self.conn().await?;
        query_opt(
            &c,
            "reading a pipeline by token",
            &format!("{PIPELINE_SQL} WHERE oauth_token = $1"),
            &[&token],
        )
        .await?
        .map(|r| pipeline_row(&r))
        .transpose()
    }

    async fn take_pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StorageError> {
        let c = self.conn().await?;
        query_opt(
            &c,
            "taking a pipeline",
            "DELETE FROM pipelines WHERE id = $1 RETURNING id, oauth_token, state::text, \
             extract(epoch FROM created_at)::bigint",
            &[&id],
        )
        .await?
        .map(|r| pipeline_row(&r))
        .transpose()
    }

    async fn purge_pipelines(&self, cutoff_unix: i64) -> Result<usize, StorageError> {
        let c = self.conn().await?;
        let n = exec(
            &c,
            "purging pipelines",
            "DELETE FROM pipelines WHERE created_at < to_timestamp($1::bigint)",
            &[&cutoff_unix],
        )
        .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn put_org_settings(
        &self,
        integration: &str,
        org: &str,
        rec: &OrgSettingsRecord,
    ) -> Result<(), StorageError> {
        let id = int_id_w(integration)?;
        let mapping = rec
            .status_mapping
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(json("a status mapping"))?;
        let c = self.conn().await?;
        exec(
            &c,
            "writing organization settings",
            "INSERT INTO org_settings (integration_id, org, sync_reverse_assignment, \
             sync_status_reverse, status_mapping) VALUES ($1, $2, $3, $4, $5::text::jsonb) \
             ON CONFLICT (integration_id, org) DO UPDATE SET \
             sync_reverse_assignment = EXCLUDED.sync_reverse_assignment, \
             sync_status_reverse = EXCLUDED.sync_status_reverse, \
             status_mapping = EXCLUDED.status_mapping",
            &[
                &id,
                &org,
                &rec.sync_reverse_assignment,
                &rec.sync_status_reverse,
                &mapping,
            ],
        )
        .await?;
        Ok(())
    }

    async fn org_settings(
        &self,
        integration: &str,
    ) -> Result<Vec<(String, OrgSettingsRecord)>, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(Vec::new());
        };
        let c = self.conn().await?;
        org_settings_on(&c, id).await
    }

    async fn put_user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
        user: &str,
    ) -> Result<(), StorageError> {
        let id = int_id_w(integration)?;
        let c = self.conn().await?;
        exec(
            &c,
            "writing a user mapping",
            "INSERT INTO user_mappings (integration_id, jira_user, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT (integration_id, jira_user) DO UPDATE SET user_id = EXCLUDED.user_id",
            &[&id, &jira_user, &user],
        )
        .await?;
        Ok(())
    }

    async fn user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
    ) -> Result<Option<String>, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(None);
        };
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading a user mapping",
            "SELECT user_id FROM user_mappings WHERE integration_id = $1 AND jira_user = $2",
            &[&id, &jira_user],
        )
        .await?
        .map(|r| r.get(0)))
    }

    async fn status_categories(&self, integration: &str) -> Result<StatusCategories, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(StatusCategories::new());
        };
        let c = self.conn().await?;
        Ok(query(
            &c,
            "reading status categories",
            "SELECT status_id, category_key FROM status_categories WHERE integration_id = $1",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
    }

    async fn put_status_categories(
        &self,
        integration: &str,
        cats: &StatusCategories,
    ) -> Result<(), StorageError> {
        let id = int_id_w(integration)?;
        let what = "writing status categories";
        let tx = Tx::begin(self.conn().await?, what).await?;
        exec(
            &tx,
            what,
            "DELETE FROM status_categories WHERE integration_id = $1",
            &[&id],
        )
        .await?;
        for (status, category) in cats {
            exec(
                &tx,
                what,
                "INSERT INTO status_categories (integration_id, status_id, category_key) \
                 VALUES ($1, $2, $3)",
                &[&id, status, category],
            )
            .await?;
        }
        tx.commit(what).await
    }
}

/// All organizations' settings of an integration, ordered by organization id (byte order).
pub(super) async fn org_settings_on(
    c: &deadpool_postgres::ClientWrapper,
    id: i64,
) -> Result<Vec<(String, OrgSettingsRecord)>, StorageError> {
    query(
        c,
        "reading organization settings",
        r#"SELECT org, sync_reverse_assignment, sync_status_reverse, status_mapping::text
           FROM org_settings WHERE integration_id = $1 ORDER BY org COLLATE "C""#,
        &[&id],
    )
    .await?
    .iter()
    .map(|r| {
        let mapping: Option<String> = r.get(3);
        Ok((
            r.get(0),
            OrgSettingsRecord {
                sync_reverse_assignment: r.get(1),
                sync_status_reverse: r.get(2),
                status_mapping: mapping
                    .map(|m| serde_json::from_str(&m))
                    .transpose()
                    .map_err(json("a status mapping"))?,
            },
        ))
    })
    .collect()
}
