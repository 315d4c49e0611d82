//! The catalog of workflow definitions: the files in `workflows/`, registered in the
//! database with their SHA-256, plus any older version a run is still pinned to.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use sqlx::PgConnection;

use crate::engine::definitions::definition::Definition;
use crate::engine::definitions::validate::{DefinitionError, DefinitionErrors, parse_definition};
use crate::engine::handlers::HandlerRegistry;
use crate::store;

/// Definitions by name (latest from files) and by (name, version) (pinned by runs).
pub struct Catalog {
    latest: HashMap<String, Arc<Definition>>,
    pinned: RwLock<HashMap<(String, i32), Arc<Definition>>>,
    registry: HandlerRegistry,
}

/// Why registering the catalog failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A file changed but kept its version number.
    #[error(
        "workflow `{name}` version {version} differs from the stored version {version} \
         (stored sha256 {stored}, file sha256 {file}); bump `version` when changing a definition"
    )]
    ChangedWithoutNewVersion {
        /// Workflow.
        name: String,
        /// Version.
        version: i32,
        /// SHA-256 in the database.
        stored: String,
        /// SHA-256 of the file.
        file: String,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Catalog {
    /// Loads and validates every `*.toml` in `dir` (a missing directory is an error).
    pub fn load_dir(dir: &Path, registry: HandlerRegistry) -> Result<Self, DefinitionErrors> {
        let mut errors = Vec::new();
        let mut latest = HashMap::new();
        for path in toml_files(dir)? {
            let file = path.display().to_string();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => source,
                Err(error) => {
                    errors.push(DefinitionError {
                        file,
                        step: None,
                        message: format!("cannot read the file: {error}"),
                    });
                    continue;
                }
            };
            match parse_definition(&file, Some(stem), &source, &|h| registry.contains(h)) {
                Ok(definition) => {
                    latest.insert(definition.name.clone(), Arc::new(definition));
                }
                Err(mut problems) => errors.append(&mut problems),
            }
        }
        if !errors.is_empty() {
            return Err(DefinitionErrors(errors));
        }
        let pinned = latest
            .values()
            .map(|d| ((d.name.clone(), d.version), d.clone()))
            .collect();
        Ok(Self {
            latest,
            pinned: RwLock::new(pinned),
            registry,
        })
    }

    /// A catalog without definitions (for the OpenAPI document, which needs none).
    pub fn empty(registry: HandlerRegistry) -> Self {
        Self {
            latest: HashMap::new(),
            pinned: RwLock::new(HashMap::new()),
            registry,
        }
    }

    /// Stores every loaded definition; refuses a changed file that kept its version.
    pub async fn register(&self, conn: &mut PgConnection) -> Result<(), RegisterError> {
        for definition in self.latest.values() {
            let stored = store::definitions::register(
                conn,
                &definition.name,
                definition.version,
                &definition.sha256,
                &definition.description,
                &definition.source,
            )
            .await?;
            if stored != definition.sha256 {
                return Err(RegisterError::ChangedWithoutNewVersion {
                    name: definition.name.clone(),
                    version: definition.version,
                    stored,
                    file: definition.sha256.clone(),
                });
            }
        }
        Ok(())
    }

    /// Definitions whose file changed while keeping a version the database already holds
    /// with other contents: `serve` would refuse to start on them. Reads only.
    pub async fn unbumped(&self, conn: &mut PgConnection) -> sqlx::Result<Vec<RegisterError>> {
        let mut found = Vec::new();
        for definition in self.all() {
            let stored =
                store::definitions::get(conn, &definition.name, definition.version).await?;
            if let Some(stored) = stored.filter(|stored| stored.sha256 != definition.sha256) {
                found.push(RegisterError::ChangedWithoutNewVersion {
                    name: definition.name.clone(),
                    version: definition.version,
                    stored: stored.sha256,
                    file: definition.sha256.clone(),
                });
            }
        }
        Ok(found)
    }

    /// The current definition of a workflow.
    pub fn latest(&self, name: &str) -> Option<Arc<Definition>> {
        self.latest.get(name).cloned()
    }

    /// Every current definition, sorted by name.
    pub fn all(&self) -> Vec<Arc<Definition>> {
        let mut all: Vec<_> = self.latest.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The handler registry definitions were checked against.
    pub fn registry(&self) -> &HandlerRegistry {
        &self.registry
    }

    /// The exact version a run is pinned to, rebuilt from the database when the file has
    /// moved on since the run started.
    pub async fn pinned(
        &self,
        conn: &mut PgConnection,
        name: &str,
        version: i32,
    ) -> Result<Arc<Definition>, PinnedError> {
        let key = (name.to_owned(), version);
        if let Some(found) = self.pinned.read().expect("catalog lock").get(&key) {
            return Ok(found.clone());
        }
        let stored = store::definitions::get(conn, name, version)
            .await?
            .ok_or_else(|| PinnedError::Missing(name.to_owned(), version))?;
        let definition = parse_definition(
            &format!("stored definition {name} v{version}"),
            None,
            &stored.source,
            &|h| self.registry.contains(h),
        )
        .map_err(|errors| PinnedError::Invalid(DefinitionErrors(errors).to_string()))?;
        let definition = Arc::new(definition);
        self.pinned
            .write()
            .expect("catalog lock")
            .insert(key, definition.clone());
        Ok(definition)
    }
}

/// Why a pinned definition could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PinnedError {
    /// No such stored version.
    #[error("workflow `{0}` version {1} is not stored")]
    Missing(String, i32),
    /// The stored version no longer validates (e.g. a handler was removed).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The `*.toml` files of a definitions or schedules directory, sorted by name.
pub fn toml_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, DefinitionErrors> {
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect(),
        Err(error) => return Err(DefinitionErrors(vec![unreadable_dir(dir, &error)])),
    };
    paths.sort();
    Ok(paths)
}

/// A definitions or schedules directory that cannot be read: a missing one is an error,
/// never zero definitions (a mistyped path would otherwise start a service with none).
fn unreadable_dir(dir: &Path, error: &std::io::Error) -> DefinitionError {
    let message = if error.kind() == std::io::ErrorKind::NotFound {
        "the directory does not exist (BAZAARSTREET_WORKFLOWS_DIR and BAZAARSTREET_JOBS_DIR \
         choose the directories; the defaults are ./workflows and ./jobs, relative to where \
         the service starts)"
            .to_owned()
    } else {
        format!("cannot read the directory: {error}")
    };
    DefinitionError {
        file: dir.display().to_string(),
        step: None,
        message,
    }
}
