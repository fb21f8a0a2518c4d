//! Schema versions, as both backends keep them: entry `i` of a backend's migrations brings its
//! schema from version `i` to `i + 1`, so a database of any earlier release is brought up step by
//! step, and one this host cannot read (newer, or a version no release wrote) is refused by name.

/// The migrations still to run on a schema at `version`, each with the version it makes; or why
/// the schema cannot be read.
pub fn pending<T>(migrations: &[T], version: i64) -> Result<impl Iterator<Item = (i64, &T)>, String> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    if version < 0 {
        return Err(format!(
            "it has schema version {version}, which no civic writes: the database is damaged or another program's"
        ));
    }
    if version > known {
        return Err(format!(
            "it has schema version {version}, written by a newer civic; this one knows versions up to {known}: \
             upgrade this host, or point it at another database"
        ));
    }
    let done = usize::try_from(version).unwrap_or(usize::MAX);
    Ok(migrations[done..].iter().zip(version + 1..)).map(|steps| steps.map(|(migration, to)| (to, migration)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_older_version_migrates_step_by_step_and_others_are_refused() {
        let migrations = ["a", "b", "c"];
        let steps =
            |version| pending(&migrations, version).map(|steps| steps.map(|(to, m)| (to, *m)).collect::<Vec<_>>());
        assert_eq!(steps(0).unwrap(), [(1, "a"), (2, "b"), (3, "c")]);
        assert_eq!(steps(2).unwrap(), [(3, "c")]);
        assert_eq!(steps(3).unwrap(), []);
        assert!(steps(4).unwrap_err().contains("newer civic"));
        assert!(steps(-1).unwrap_err().contains("no civic writes"));
        assert!(steps(i64::MIN).is_err());
    }
}
