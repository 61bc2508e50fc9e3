//! The DDL the plan writes: index builds (one concurrent build, or on a partitioned table the
//! parent `ON ONLY`, a concurrent build per partition and an attach), drops, and free names.
//! Names are quoted here; the rest of a definition is PostgreSQL's own deparsed tail.

use super::Plan;
use crate::catalog::Index;
use crate::escape::{ident as quote_ident, qualified};

pub(crate) const SUE: &str = "SHARE UPDATE EXCLUSIVE (reads and writes continue)";

/// Lock of `DROP INDEX` on a partitioned index (PostgreSQL cannot drop those concurrently).
pub(crate) const ACCESS_EXCLUSIVE: &str =
    "ACCESS EXCLUSIVE (brief: a partitioned index cannot be dropped concurrently)";

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY] IF NOT EXISTS name ON [ONLY] schema.table<tail>`: the
/// names quoted here, the rest (` USING method (...) ...`) as PostgreSQL deparsed it.
/// Always re-runnable: `IF NOT EXISTS`, and the runner drops an INVALID leftover first.
pub(crate) fn create_index(want: &Index, name: &str, on: (&str, &str), only: bool) -> String {
    format!(
        "CREATE {}INDEX {}IF NOT EXISTS {} ON {}{}{}",
        if want.unique { "UNIQUE " } else { "" },
        if only { "" } else { "CONCURRENTLY " },
        quote_ident(name),
        if only { "ONLY " } else { "" },
        qualified(on.0, on.1),
        want.tail
    )
}

/// Attaches `child` (an index on `partition`) to the partitioned index `schema.parent`, unless
/// the partition already has another index attached to it: then `child` is a duplicate and is
/// dropped. That happens where the recorded migration is replayed over migrations that already
/// built the index (the shadow), so replaying it converges instead of failing.
pub(crate) fn attach(schema: &str, parent: &str, partition: (&str, &str), child: &str) -> String {
    let lit = |s: String| crate::escape::literal(&s);
    let (parent, child_q) = (qualified(schema, parent), qualified(partition.0, child));
    let body = format!(
        "BEGIN IF EXISTS (SELECT 1 FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid \
         WHERE h.inhparent = to_regclass({pl}) AND i.indrelid = to_regclass({tl}) \
         AND h.inhrelid IS DISTINCT FROM to_regclass({cl})) \
         THEN EXECUTE {drop}; ELSE EXECUTE {attach}; END IF; END",
        pl = lit(parent.clone()),
        tl = lit(qualified(partition.0, partition.1)),
        cl = lit(child_q.clone()),
        drop = lit(format!("DROP INDEX {child_q}")),
        attach = lit(format!("ALTER INDEX {parent} ATTACH PARTITION {child_q}")),
    );
    format!("DO {}", crate::escape::dollar_quote(&body))
}

/// `DROP INDEX [CONCURRENTLY] IF EXISTS`: concurrently unless the index is partitioned.
pub(crate) fn drop_index(ix: &Index) -> (String, &'static str) {
    let name = qualified(&ix.schema, &ix.name);
    if ix.partitioned {
        (format!("DROP INDEX IF EXISTS {name}"), ACCESS_EXCLUSIVE)
    } else {
        (format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"), SUE)
    }
}

impl Plan<'_> {
    /// A free index name in `schema`: `base` (cut to 63 bytes on a character boundary), else
    /// with `_1`, `_2`, ... before the cut; the name is then taken.
    pub(super) fn free_name(&mut self, schema: &str, base: &str) -> String {
        crate::escape::free_name(base, |name| {
            self.taken.insert(super::name_hash(schema, name))
        })
    }

    /// The statements that build `want` as `name` on `schema.table`: one concurrent build, or,
    /// on a partitioned table, the parent index `ON ONLY` the table, a concurrent build on each
    /// partition (recursively) and `ATTACH PARTITION` (PostgreSQL cannot build a partitioned
    /// index concurrently). Every statement is re-runnable.
    pub(super) fn build(&mut self, want: &Index, name: &str, on: (&str, &str)) -> Vec<String> {
        if !want.partitioned {
            return vec![create_index(want, name, on, false)];
        }
        let mut out = vec![create_index(want, name, on, true)];
        let live = self.live;
        for part in live
            .partitions
            .iter()
            .filter(|p| p.parent_schema == on.0 && p.parent == on.1)
        {
            let has_attached = live.attached.iter().any(|a| {
                a.parent_schema == on.0
                    && a.parent == name
                    && a.schema == part.schema
                    && a.table == part.name
            });
            if has_attached {
                continue;
            }
            let child = self.free_name(&part.schema, &format!("{}_{}", part.name, name));
            if part.partitioned {
                let sub = Index {
                    partitioned: true,
                    ..want.clone()
                };
                out.extend(self.build(&sub, &child, (&part.schema, &part.name)));
            } else {
                let leaf = Index {
                    partitioned: false,
                    ..want.clone()
                };
                out.push(create_index(
                    &leaf,
                    &child,
                    (&part.schema, &part.name),
                    false,
                ));
            }
            out.push(attach(on.0, name, (&part.schema, &part.name), &child));
        }
        out
    }
}
