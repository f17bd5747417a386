//! One side of a comparison: a result file, or a directory of them.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::results::schema::{self, RunResult};

/// The results of one side, by file.
#[derive(Debug)]
pub struct Side {
    /// The file or directory given.
    pub path: PathBuf,
    /// Whether it is a directory (results are then paired by scenario).
    pub is_dir: bool,
    /// Each result, with its file.
    pub results: Vec<(PathBuf, RunResult)>,
}

impl Side {
    /// Reads a result, or every result of a directory (not recursing),
    /// refusing a directory that names a scenario twice or holds none.
    pub fn load(path: &Path) -> anyhow::Result<Side> {
        if !path.is_dir() {
            let r = schema::read_json(path)?;
            return Ok(Side { path: path.to_path_buf(), is_dir: false, results: vec![(path.to_path_buf(), r)] });
        }
        let entries =
            std::fs::read_dir(path).map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut results: Vec<(PathBuf, RunResult)> = Vec::new();
        for file in files {
            let bytes =
                std::fs::read(&file).map_err(|e| Error::usage(format!("cannot read {}: {e}", file.display())))?;
            // Other JSON is passed over (benches.json), but a file that is
            // not JSON at all is no such document: a result cut short would
            // drop its scenario from the comparison, and from the gate.
            let value = serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| Error::usage(format!("{}: not JSON: {e} (a result cut short?)", file.display())))?;
            if !schema::is_run_document(&value) {
                continue;
            }
            let r = schema::from_value(&file, value)?;
            if let Some((other, _)) = results.iter().find(|(_, o)| o.scenario == r.scenario) {
                return Err(Error::usage(format!(
                    "{}: scenario {:?} is in both {} and {}: one result per scenario",
                    path.display(),
                    r.scenario,
                    other.display(),
                    file.display()
                ))
                .into());
            }
            results.push((file, r));
        }
        if results.is_empty() {
            return Err(
                Error::usage(format!("{}: no {} result in this directory", path.display(), schema::SCHEMA)).into()
            );
        }
        Ok(Side { path: path.to_path_buf(), is_dir: true, results })
    }
}
