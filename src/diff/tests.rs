#![cfg(test)]

use super::*;
use crate::catalog::{ForeignKey, Table};

fn ix(name: &str, table: &str, cols: &[&str]) -> Index {
    Index {
        schema: "public".into(),
        name: name.into(),
        table: table.into(),
        definition: format!(
            "CREATE INDEX {name} ON public.{table} USING btree ({})",
            cols.join(", ")
        ),
        tail: format!(" USING btree ({})", cols.join(", ")),
        partitioned: false,
        method: "btree".into(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        predicate: None,
        unique: false,
        primary: false,
        constraint: None,
        valid: true,
        size_bytes: 8192,
        scans: 10,
        key: format!("btree|false|{}", cols.join(",")),
        expected_bytes: None,
        replica_identity: false,
        referenced_by_foreign_key: false,
        oid: 0,
    }
}

fn table(name: &str, writes: i64) -> Table {
    Table {
        schema: "public".into(),
        name: name.into(),
        size_bytes: 100_000_000,
        writes,
    }
}

fn catalog(indexes: Vec<Index>) -> Catalog {
    Catalog {
        tables: vec![table("t", 0)],
        indexes,
        foreign_keys: vec![],
        partitions: vec![],
        attached: vec![],
        relation_names: vec![],
        stats_age_seconds: 3600.0,
    }
}

fn rules_of(desired: &Catalog, live: &Catalog) -> Vec<&'static str> {
    compare(desired, live, &DiffSettings::default())
        .0
        .iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn a_clean_database_has_no_findings() {
    let c = catalog(vec![ix("t_a", "t", &["a"]), ix("t_b_c", "t", &["b", "c"])]);
    let (findings, changes) = compare(&c, &c, &DiffSettings::default());
    assert!(findings.is_empty() && changes.is_empty(), "{findings:?}");
}

#[test]
fn missing_and_unexpected() {
    let desired = catalog(vec![ix("t_a", "t", &["a"])]);
    let live = catalog(vec![ix("t_z", "t", &["z"])]);
    assert_eq!(
        rules_of(&desired, &live),
        vec![rules::MISSING_INDEX, rules::UNEXPECTED_INDEX]
    );
    let (_, changes) = compare(&desired, &live, &DiffSettings::default());
    assert_eq!(
        changes[0].statements[0],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_a\" ON \"public\".\"t\" USING btree (a)"
    );
    assert_eq!(changes[0].estimate_seconds, 2.0);
    assert!(
        changes[1].is_drop
            && changes[1].statements[0] == "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"t_z\""
    );
}

#[test]
fn a_changed_definition_is_built_under_a_temporary_name_then_swapped() {
    let desired = catalog(vec![ix("t_a", "t", &["a", "b"])]);
    let live = catalog(vec![ix("t_a", "t", &["a"])]);
    let (findings, changes) = compare(&desired, &live, &DiffSettings::default());
    assert_eq!(findings[0].rule, rules::INDEX_DEFINITION_DIFFERS);
    assert_eq!(
        changes[0].statements,
        vec![
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_pgw_new\" ON \"public\".\"t\" USING btree (a, b)".to_string(),
            "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"t_a\"".to_string(),
            "ALTER INDEX IF EXISTS \"public\".\"t_a_pgw_new\" RENAME TO \"t_a\"".to_string(),
        ]
    );
    assert!(
        changes[0].is_drop,
        "a swap drops the old index: it needs --allow-drop"
    );
}

#[test]
fn indexes_the_migrations_define_are_notes_not_drops() {
    let mut unused = ix("t_unused", "t", &["u"]);
    unused.scans = 0;
    let wider = ix("t_a_b", "t", &["a", "b"]);
    let prefix = ix("t_a", "t", &["a"]);
    let both = catalog(vec![unused, wider, prefix]);
    let settings = DiffSettings {
        unused_after_seconds: 60.0,
        ..Default::default()
    };
    let (findings, changes) = compare(&both, &both, &settings);
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert!(
        findings.iter().all(|f| f.severity == Severity::Note
            && f.help.contains("DROP INDEX CONCURRENTLY IF EXISTS"))
    );
}

#[test]
fn operator_classes_and_collations_compare_by_name_not_oid() {
    // Keys come from the reader with names; two catalogs with the same names are equal.
    let mut want = ix("t_trgm", "t", &["body"]);
    want.key = r#"["gin",false,1,["body"],"{public.gin_trgm_ops} {-} 0",null]"#.into();
    let have = want.clone();
    let (findings, _) = compare(
        &catalog(vec![want.clone()]),
        &catalog(vec![have]),
        &DiffSettings::default(),
    );
    assert!(findings.is_empty());
    let mut other = want.clone();
    other.key = other.key.replace("gin_trgm_ops", "gin_bigm_ops");
    let (findings, _) = compare(
        &catalog(vec![want]),
        &catalog(vec![other]),
        &DiffSettings::default(),
    );
    assert_eq!(findings[0].rule, rules::INDEX_DEFINITION_DIFFERS);
}

#[test]
fn partitioned_tables_are_built_on_only_the_parent_then_per_partition() {
    let mut want = ix("p_k", "p", &["k"]);
    want.partitioned = true;
    let mut live = catalog(vec![]);
    live.partitions = ["p_1", "p_2"]
        .iter()
        .map(|n| crate::catalog::Partition {
            parent_schema: "public".into(),
            parent: "p".into(),
            schema: "public".into(),
            name: n.to_string(),
            partitioned: false,
        })
        .collect();
    let (_, changes) = compare(&catalog(vec![want]), &live, &DiffSettings::default());
    let s = &changes[0].statements;
    assert_eq!(
        s[0],
        "CREATE INDEX IF NOT EXISTS \"p_k\" ON ONLY \"public\".\"p\" USING btree (k)"
    );
    assert_eq!(
        s[1],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"p_1_p_k\" ON \"public\".\"p_1\" USING btree (k)"
    );
    assert!(
        s[2].starts_with("DO $pgw$")
            && s[2].contains("ATTACH PARTITION \"public\".\"p_1_p_k\"")
            && s[2].contains("DROP INDEX \"public\".\"p_1_p_k\""),
        "{}",
        s[2]
    );
    assert_eq!(s.len(), 5);
    assert!(
        !s.iter()
            .any(|x| x.contains("CONCURRENTLY") && x.contains("\"p\" "))
    );
}

#[test]
fn generated_names_are_cut_on_a_character_boundary_and_never_collide() {
    let table = "€".repeat(30);
    let mut live = catalog(vec![]);
    live.tables = vec![Table {
        schema: "public".into(),
        name: table.clone(),
        size_bytes: 1,
        writes: 5,
    }];
    live.foreign_keys = vec![ForeignKey {
        schema: "public".into(),
        table: table.clone(),
        name: "fk".into(),
        columns: vec!["a".into()],
        referenced_table: "r".into(),
    }];
    let taken = crate::escape::truncate_name(&format!("idx_{table}_a"), 63).to_string();
    let mut existing = ix(&taken, &table, &["zz"]);
    existing.scans = 5;
    live.indexes.push(existing);
    let (_, changes) = compare(&live.clone(), &live, &DiffSettings::default());
    let build = changes
        .iter()
        .find(|c| c.rule == rules::FK_WITHOUT_INDEX)
        .unwrap();
    assert!(build.object.len() <= "public.".len() + 63);
    assert!(!build.object.ends_with(&taken), "{}", build.object);
}

#[test]
fn invalid_duplicate_redundant_and_unused() {
    let mut invalid = ix("t_bad", "t", &["q"]);
    invalid.valid = false;
    let live = catalog(vec![
        invalid.clone(),
        ix("t_a1", "t", &["a"]),
        ix("t_a2", "t", &["a"]),
        ix("t_b", "t", &["b"]),
        ix("t_b_c", "t", &["b", "c"]),
    ]);
    let desired = live.clone();
    let got = rules_of(&desired, &live);
    assert_eq!(
        got,
        vec![
            rules::INVALID_INDEX,
            rules::DUPLICATE_INDEX,
            rules::REDUNDANT_INDEX
        ],
        "{got:?}"
    );
    let mut old = live.clone();
    old.stats_age_seconds = 30.0 * 86_400.0;
    old.indexes.iter_mut().for_each(|i| i.scans = 0);
    assert!(rules_of(&old, &old).contains(&rules::UNUSED_INDEX));
}

#[test]
fn constraint_backing_indexes_are_never_dropped() {
    let mut pk = ix("t_pkey", "t", &["id"]);
    pk.unique = true;
    pk.primary = true;
    pk.constraint = Some("t_pkey".into());
    pk.scans = 0;
    let desired = catalog(vec![]);
    let mut live = catalog(vec![pk]);
    live.stats_age_seconds = 90.0 * 86_400.0;
    let (findings, changes) = compare(&desired, &live, &DiffSettings::default());
    assert!(findings.is_empty() && changes.is_empty(), "{findings:?}");
}

#[test]
fn a_foreign_key_without_an_index_on_a_written_table() {
    let mut live = catalog(vec![]);
    live.tables = vec![table("tasks", 500)];
    live.foreign_keys = vec![ForeignKey {
        schema: "public".into(),
        table: "tasks".into(),
        name: "tasks_project_id_fkey".into(),
        columns: vec!["project_id".into()],
        referenced_table: "projects".into(),
    }];
    let (findings, changes) = compare(&live.clone(), &live, &DiffSettings::default());
    assert_eq!(findings[0].rule, rules::FK_WITHOUT_INDEX);
    assert_eq!(
        changes[0].statements[0],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_tasks_project_id\" ON \"public\".\"tasks\" USING btree (project_id)"
    );
    live.tables[0].writes = 0;
    assert!(
        compare(&live.clone(), &live, &DiffSettings::default())
            .0
            .is_empty(),
        "a table never written to is left alone"
    );
}

#[test]
fn builds_come_before_drops() {
    let desired = catalog(vec![ix("t_new", "t", &["n"])]);
    let live = catalog(vec![ix("t_old", "t", &["o"])]);
    let (_, changes) = compare(&desired, &live, &DiffSettings::default());
    let signs: Vec<char> = changes.iter().map(|c| c.sign).collect();
    assert_eq!(signs, vec!['+', '-']);
}

#[test]
fn an_unexpected_twin_is_dropped_and_the_migrations_index_kept() {
    // Regression: the duplicate rule dropped the index the migrations want, keeping the stray.
    let desired = catalog(vec![ix("idx_tasks_dev", "t", &["d"])]);
    let live = catalog(vec![
        ix("idx_tasks_dev", "t", &["d"]),
        ix("a_stray", "t", &["d"]),
    ]);
    let (findings, changes) = compare(&desired, &live, &DiffSettings::default());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].object, "public.a_stray");
}

#[test]
fn a_bloated_index_is_rebuilt() {
    let mut big = ix("t_a", "t", &["a"]);
    big.size_bytes = 50_000_000;
    big.expected_bytes = Some(10_000_000);
    let c = catalog(vec![big.clone()]);
    let (findings, changes) = compare(&c, &c, &DiffSettings::default());
    assert_eq!(findings[0].rule, rules::BLOATED_INDEX);
    assert!(changes[0].statements[0].starts_with("REINDEX INDEX CONCURRENTLY"));
    big.expected_bytes = Some(40_000_000);
    let c = catalog(vec![big]);
    assert!(compare(&c, &c, &DiffSettings::default()).0.is_empty());
}

#[test]
fn a_foreign_key_stays_covered_after_the_plan_drops_or_swaps_its_index() {
    let fk = ForeignKey {
        schema: "public".into(),
        table: "t".into(),
        name: "t_pid_fkey".into(),
        columns: vec!["pid".into()],
        referenced_table: "p".into(),
    };
    // An unexpected index covers the key: the plan drops it, so it also builds one.
    let mut live = catalog(vec![ix("extra", "t", &["pid"])]);
    live.tables = vec![table("t", 10)];
    live.foreign_keys = vec![fk.clone()];
    let desired = catalog(vec![]);
    let (_, changes) = compare(&desired, &live, &DiffSettings::default());
    let rules: Vec<&str> = changes.iter().map(|c| c.rule).collect();
    assert_eq!(
        rules,
        vec![rules::FK_WITHOUT_INDEX, rules::UNEXPECTED_INDEX]
    );
    // The migrations' index covers it: nothing to add.
    let desired = catalog(vec![ix("t_pid", "t", &["pid"])]);
    let mut live = catalog(vec![]);
    live.tables = vec![table("t", 10)];
    live.foreign_keys = vec![fk];
    let (_, changes) = compare(&desired, &live, &DiffSettings::default());
    let rules: Vec<&str> = changes.iter().map(|c| c.rule).collect();
    assert_eq!(rules, vec![rules::MISSING_INDEX]);
}

#[test]
fn a_made_up_name_never_takes_a_name_the_migrations_use() {
    // The migrations' index idx_t_pid (on another column) is missing live; the FK's index
    // would be called idx_t_pid too: it gets another name, and both are built.
    let desired = catalog(vec![ix("idx_t_pid", "t", &["b"])]);
    let mut live = catalog(vec![]);
    live.tables = vec![table("t", 10)];
    live.foreign_keys = vec![ForeignKey {
        schema: "public".into(),
        table: "t".into(),
        name: "t_pid_fkey".into(),
        columns: vec!["pid".into()],
        referenced_table: "p".into(),
    }];
    let (_, changes) = compare(&desired, &live, &DiffSettings::default());
    let objects: Vec<&str> = changes.iter().map(|c| c.object.as_str()).collect();
    assert_eq!(objects, vec!["public.idx_t_pid", "public.idx_t_pid_1"]);
    // A table holding the missing index's name: a finding, no build that could never run.
    live.relation_names = vec![("public".into(), "idx_t_pid".into())];
    let (findings, changes) = compare(&desired, &live, &DiffSettings::default());
    assert!(
        changes.iter().all(|c| c.object != "public.idx_t_pid"),
        "{changes:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.message.contains("another relation has its name"))
    );
}

#[test]
fn a_foreign_key_of_a_partitioned_table_counts_its_partitions_writes() {
    let mut live = catalog(vec![]);
    live.tables = vec![table("pc", 0), table("pc_1", 5)];
    live.partitions = vec![crate::catalog::Partition {
        parent_schema: "public".into(),
        parent: "pc".into(),
        schema: "public".into(),
        name: "pc_1".into(),
        partitioned: false,
    }];
    live.foreign_keys = vec![ForeignKey {
        schema: "public".into(),
        table: "pc".into(),
        name: "pc_pid_fkey".into(),
        columns: vec!["pid".into()],
        referenced_table: "p".into(),
    }];
    let (_, changes) = compare(&catalog(vec![]), &live, &DiffSettings::default());
    let s = &changes[0].statements;
    assert_eq!(changes[0].rule, rules::FK_WITHOUT_INDEX);
    assert!(s[0].contains("ON ONLY \"public\".\"pc\""), "{s:?}");
    assert!(
        s[1].starts_with("CREATE INDEX CONCURRENTLY") && s[1].contains("\"pc_1\""),
        "{s:?}"
    );
}

fn replica(age: Option<f64>, scans: &[(&str, i64)], error: Option<&str>) -> ServerUsage {
    ServerUsage {
        server: "r1".into(),
        stats_age_seconds: age,
        scans: scans
            .iter()
            .map(|(n, s)| (("public".to_string(), n.to_string()), (*s, 0)))
            .collect(),
        error: error.map(str::to_string),
    }
}

#[test]
fn an_index_is_unused_only_when_no_server_scanned_it_and_every_one_watched_long_enough() {
    let mut idle = ix("t_idle", "t", &["u"]);
    idle.scans = 0;
    let both = catalog(vec![idle]);
    let settings = DiffSettings {
        unused_after_seconds: 600.0,
        ..Default::default()
    };
    let unused_of = |replicas: &[ServerUsage]| -> Vec<Finding> {
        compare_with_replicas(&both, &both, replicas, &settings)
            .0
            .into_iter()
            .filter(|f| f.rule == rules::UNUSED_INDEX)
            .collect()
    };
    assert_eq!(unused_of(&[]).len(), 1, "the primary alone");
    assert!(
        unused_of(&[replica(Some(7200.0), &[("t_idle", 3)], None)]).is_empty(),
        "scanned on the replica"
    );
    assert!(
        unused_of(&[replica(Some(60.0), &[("t_idle", 0)], None)]).is_empty(),
        "the replica has not watched for long enough"
    );
    let missing = unused_of(&[replica(Some(7200.0), &[], None)]);
    assert!(
        missing[0].message.contains("not there with the same OID"),
        "{}",
        missing[0].message
    );
    let all = unused_of(&[replica(Some(7200.0), &[("t_idle", 0)], None)]);
    assert_eq!(all.len(), 1);
    assert!(
        all[0].message.contains("primary: 0 days, r1: 0 days"),
        "{}",
        all[0].message
    );
    let unknown = unused_of(&[replica(None, &[], Some("cannot connect"))]);
    assert!(
        unknown[0].message.contains("unknown"),
        "{}",
        unknown[0].message
    );
}

#[test]
fn protected_indexes_are_reported_but_never_dropped() {
    for protect in [
        |i: &mut Index| i.replica_identity = true,
        |i: &mut Index| i.referenced_by_foreign_key = true,
        |i: &mut Index| i.constraint = Some("t_u_key".into()),
    ] {
        let mut extra = ix("t_u", "t", &["u"]);
        extra.unique = true;
        protect(&mut extra);
        let (findings, changes) = compare(
            &catalog(vec![]),
            &catalog(vec![extra]),
            &DiffSettings::default(),
        );
        assert!(changes.is_empty(), "{changes:?}");
        assert!(
            findings.iter().all(|f| f.help.contains("never drops")),
            "{findings:?}"
        );
    }
}
