//! The SQLite and PostgreSQL migration sets stay in step: both are applied (SQLite in a temp dir,
//! PostgreSQL in a fresh database on `AUSCULT_TEST_POSTGRES_URL`) and the resulting schemas are
//! read back from each engine's catalogue and compared: tables, columns in order, types modulo
//! dialect (the explicit [`TYPES`] table), nullability, defaults, identity columns, primary keys,
//! unique constraints, indexes (columns, order, direction) and foreign keys.
//!
//! A difference is drift: fix it with a new migration in both sets, never by editing an applied
//! one (a database that already ran it would not see the edit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Connection, Row};

/// The column types the migrations may use: SQLite's declared type, PostgreSQL's
/// `information_schema.columns.data_type`, and the common meaning. Anything else fails the test,
/// so a new type is a decision made here (e.g. PostgreSQL `integer` is 32-bit and is not the
/// same as SQLite's 64-bit `INTEGER`; `REAL` is an 8-byte float in SQLite).
const TYPES: [(&str, &str, Type); 4] = [
    ("INTEGER", "bigint", Type::Integer64),
    ("REAL", "double precision", Type::Float64),
    ("TEXT", "text", Type::Text),
    ("BLOB", "bytea", Type::Bytes),
];

/// A column type, dialect removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Type {
    Integer64,
    Float64,
    Text,
    Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    ty: Type,
    not_null: bool,
    /// The default's literal (casts removed), if any.
    default: Option<String>,
    /// Filled in by the database (SQLite `INTEGER PRIMARY KEY AUTOINCREMENT`, PostgreSQL
    /// identity).
    identity: bool,
}

/// An index or a unique constraint. Named when made by `CREATE INDEX` (the name is part of the
/// schema); unnamed when it backs a `UNIQUE` constraint (each engine names those itself).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    name: Option<String>,
    unique: bool,
    partial: bool,
    /// Key columns in order, `" DESC"` appended to descending ones.
    columns: Vec<String>,
}

/// (column, referenced table, referenced column).
type ForeignKey = (String, String, String);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
    indexes: BTreeSet<Index>,
    foreign_keys: BTreeSet<ForeignKey>,
}

type Schema = BTreeMap<String, Table>;

fn sqlite_type(declared: &str, table: &str, column: &str) -> Type {
    TYPES
        .iter()
        .find(|(s, _, _)| s.eq_ignore_ascii_case(declared))
        .map(|(_, _, t)| *t)
        .unwrap_or_else(|| {
            panic!("{table}.{column}: SQLite type {declared:?} is not in the mapping table TYPES")
        })
}

fn postgres_type(data_type: &str, table: &str, column: &str) -> Type {
    TYPES
        .iter()
        .find(|(_, p, _)| *p == data_type)
        .map(|(_, _, t)| *t)
        .unwrap_or_else(|| {
            panic!(
                "{table}.{column}: PostgreSQL type {data_type:?} is not in the mapping table TYPES"
            )
        })
}

/// A default's literal without PostgreSQL's casts (`''::text` is `''`).
fn default_literal(d: Option<String>) -> Option<String> {
    d.map(|d| match d.split_once("::") {
        Some((literal, _)) => literal.trim().to_owned(),
        None => d.trim().to_owned(),
    })
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut schema = Schema::new();
    for (table, sql) in tables {
        let autoincrement = sql.to_ascii_uppercase().contains("AUTOINCREMENT");
        let rows = sqlx::query(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(&mut c)
        .await
        .unwrap();
        let mut t = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in &rows {
            let name: String = r.get(0);
            let declared: String = r.get(1);
            let not_null: i64 = r.get(2);
            let pk_pos: i64 = r.get(4);
            let ty = sqlite_type(&declared, &table, &name);
            if pk_pos > 0 {
                pk.push((pk_pos, name.clone()));
            }
            t.columns.push(Column {
                // SQLite lets a non-INTEGER PRIMARY KEY column hold NULL (a documented legacy
                // quirk); PostgreSQL's PRIMARY KEY implies NOT NULL. The store never writes a
                // NULL key, so a key column counts as NOT NULL on both.
                not_null: not_null == 1 || pk_pos > 0,
                default: default_literal(r.get(3)),
                identity: autoincrement && pk_pos > 0 && ty == Type::Integer64,
                name,
                ty,
            });
        }
        pk.sort();
        t.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        let indexes = sqlx::query(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?) WHERE origin <> 'pk'",
        )
        .bind(&table)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in &indexes {
            let name: String = r.get(0);
            let unique: i64 = r.get(1);
            let origin: String = r.get(2);
            let partial: i64 = r.get(3);
            let columns = sqlx::query(
                "SELECT name, \"desc\" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno",
            )
            .bind(&name)
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|k| {
                let col: String = k.get(0);
                let desc: i64 = k.get(1);
                if desc == 1 {
                    format!("{col} DESC")
                } else {
                    col
                }
            })
            .collect();
            t.indexes.insert(Index {
                name: (origin == "c").then_some(name),
                unique: unique == 1,
                partial: partial == 1,
                columns,
            });
        }
        t.foreign_keys =
            sqlx::query("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?)")
                .bind(&table)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
        schema.insert(table, t);
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut schema = Schema::new();
    for table in tables {
        let mut t = Table::default();
        let rows = sqlx::query(
            "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text, \
             is_identity::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in &rows {
            let name: String = r.get(0);
            let data_type: String = r.get(1);
            let nullable: String = r.get(2);
            let default: Option<String> = r.get(3);
            let identity: String = r.get(4);
            let serial = default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("));
            t.columns.push(Column {
                ty: postgres_type(&data_type, &table, &name),
                not_null: nullable == "NO",
                default: if serial {
                    None
                } else {
                    default_literal(default)
                },
                identity: identity == "YES" || serial,
                name,
            });
        }
        let indexes = sqlx::query(
            "SELECT ic.relname::text, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, \
               EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid \
                       AND k.conrelid = ix.indrelid AND k.contype IN ('p', 'u')), \
               (SELECT string_agg(pg_get_indexdef(ix.indexrelid, n, true) \
                         || CASE WHEN (ix.indoption[n - 1] & 1) = 1 THEN ' DESC' ELSE '' END, \
                       ',' ORDER BY n) \
                  FROM generate_series(1, ix.indnkeyatts) AS n) \
             FROM pg_index ix \
             JOIN pg_class ic ON ic.oid = ix.indexrelid \
             JOIN pg_class tc ON tc.oid = ix.indrelid \
             WHERE tc.relname = $1 AND tc.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
        )
        .bind(&table)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in &indexes {
            let name: String = r.get(0);
            let unique: bool = r.get(1);
            let primary: bool = r.get(2);
            let partial: bool = r.get(3);
            let constraint: bool = r.get(4);
            let columns: String = r.get(5);
            let columns: Vec<String> = columns.split(',').map(str::to_owned).collect();
            if primary {
                t.primary_key = columns;
                continue;
            }
            t.indexes.insert(Index {
                name: (!constraint).then_some(name),
                unique,
                partial,
                columns,
            });
        }
        t.foreign_keys = sqlx::query(
            "SELECT a.attname::text, rt.relname::text, ra.attname::text \
             FROM pg_constraint k \
             CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(attnum, rattnum) \
             JOIN pg_class tc ON tc.oid = k.conrelid \
             JOIN pg_class rt ON rt.oid = k.confrelid \
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum \
             JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.rattnum \
             WHERE k.contype = 'f' AND tc.relname = $1 \
               AND tc.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
        )
        .bind(&table)
        .fetch_all(&mut c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        schema.insert(table, t);
    }
    schema
}

/// Every difference between the two schemas, one line each.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        let (s, p) = match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (Some(_), None) => {
                out.push(format!("table {name}: only in SQLite"));
                continue;
            }
            (None, _) => {
                out.push(format!("table {name}: only in PostgreSQL"));
                continue;
            }
        };
        let s_cols: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        let p_cols: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
        if s_cols != p_cols {
            out.push(format!(
                "table {name}: columns SQLite {s_cols:?} vs PostgreSQL {p_cols:?}"
            ));
        }
        for sc in &s.columns {
            if let Some(pc) = p.columns.iter().find(|c| c.name == sc.name)
                && sc != pc
            {
                out.push(format!(
                    "column {name}.{}: SQLite {sc:?} vs PostgreSQL {pc:?}",
                    sc.name
                ));
            }
        }
        if s.primary_key != p.primary_key {
            out.push(format!(
                "table {name}: primary key SQLite {:?} vs PostgreSQL {:?}",
                s.primary_key, p.primary_key
            ));
        }
        for i in s.indexes.difference(&p.indexes) {
            out.push(format!("table {name}: index only in SQLite: {i:?}"));
        }
        for i in p.indexes.difference(&s.indexes) {
            out.push(format!("table {name}: index only in PostgreSQL: {i:?}"));
        }
        for f in s.foreign_keys.symmetric_difference(&p.foreign_keys) {
            let side = if s.foreign_keys.contains(f) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            out.push(format!("table {name}: foreign key only in {side}: {f:?}"));
        }
    }
    out
}

/// Migrates SQLite in a temp dir through the store.
async fn migrated_sqlite(dir: &std::path::Path) -> String {
    let url = common::database_url(dir, false).await.unwrap();
    common::open(dir, false).await.unwrap().close().await;
    url
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = migrated_sqlite(dir.path()).await;
    let Some(pg_url) = common::database_url(dir.path(), true).await else {
        return;
    };
    let store = auscult_store::Store::open(
        &auscult_store::DbOptions {
            url: pg_url.clone(),
            max_connections: 2,
        },
        &common::local_blobs(dir.path()),
    )
    .await
    .unwrap();
    store.close().await;
    let sqlite = sqlite_schema(&sqlite_url).await;
    let postgres = postgres_schema(&pg_url).await;
    assert!(
        sqlite.len() >= 15,
        "the introspection found the tables: {:?}",
        sqlite.keys()
    );
    let diff = differences(&sqlite, &postgres);
    assert!(
        diff.is_empty(),
        "the SQLite and PostgreSQL migrations have drifted apart (fix with a new migration in both sets):\n{}",
        diff.join("\n")
    );
}

/// Without PostgreSQL: the SQLite schema uses only mapped types (read by the same code), and the
/// comparison sees a difference where there is one.
#[tokio::test]
async fn the_comparison_sees_drift() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path()).await;
    let base = sqlite_schema(&url).await;
    assert!(base.contains_key("recordings") && base.contains_key("alert_events"));
    assert_eq!(
        base["alert_events"].primary_key,
        ["event_id"],
        "{:?}",
        base["alert_events"]
    );
    assert!(base["alert_events"].columns[0].identity);
    assert!(differences(&base, &base).is_empty());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for (change, expect) in [
        (
            "ALTER TABLE reviews ADD COLUMN note TEXT",
            "table reviews: columns",
        ),
        (
            "CREATE INDEX reviews_by_reviewer ON reviews(reviewer_id)",
            "index only in SQLite",
        ),
        (
            "CREATE TABLE extra (id TEXT PRIMARY KEY)",
            "table extra: only in SQLite",
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(change.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
        let diff = differences(&sqlite_schema(&url).await, &base);
        assert!(
            diff.iter().any(|d| d.contains(expect)),
            "{change}: {diff:?}"
        );
    }
    // A type, a nullability and a default difference, on an otherwise equal column.
    let mut other = base.clone();
    let col = &mut other.get_mut("tenants").unwrap().columns[3];
    col.ty = Type::Float64;
    col.not_null = false;
    col.default = Some("0".into());
    let diff = differences(&base, &other);
    assert!(
        diff.iter()
            .any(|d| d.starts_with("column tenants.created_at_ms")),
        "{diff:?}"
    );
    assert_eq!(default_literal(Some("''::text".into())), Some("''".into()));
}
