//! The live state: the compiled table and the documents generated from it,
//! published together behind one `ArcSwap` ([`SharedLive`]), so every
//! request sees one table and its documents, never a mix of two reloads.
//! A request loads the live state once and keeps its table until the last
//! byte of its response has been sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::compile::load_dirs;
use crate::diagnostics::SpecError;
use crate::env::Env;
use crate::openapi::Documents;
use crate::table::Table;

/// The state every request runs on, swapped whole on reload.
pub type SharedLive = Arc<ArcSwap<Live>>;

/// One compiled table and its documents.
#[derive(Debug)]
pub struct Live {
    pub table: Arc<Table>,
    pub documents: Documents,
}

impl Live {
    /// Generates the documents of `table`; Actions rule errors fail it.
    pub fn new(mut table: Table, env: &Env) -> Result<Live, Vec<SpecError>> {
        let server_url = crate::openapi::server_url(env);
        let documents = Documents::build(&table.routes, &server_url, table.consumers.is_enabled())?;
        // The documents are serialized: the schema trees they were built from
        // (megabytes of `serde_json::Value`) are not kept for the table's life.
        for route in &mut table.routes {
            route.docs.schemas = Default::default();
        }
        release_freed_memory();
        Ok(Live { table: Arc::new(table), documents })
    }

    /// Loads and compiles a routes directory, then generates its documents.
    pub fn load(dir: &Path, env: &Env) -> Result<Live, Vec<SpecError>> {
        Live::load_dirs(&[dir.to_path_buf()], env)
    }

    /// Like [`Live::load`] for several directories read as one set of files.
    pub fn load_dirs(dirs: &[PathBuf], env: &Env) -> Result<Live, Vec<SpecError>> {
        Live::new(load_dirs(dirs, env)?, env)
    }

    /// The state ready to be shared.
    pub fn shared(self) -> SharedLive {
        Arc::new(ArcSwap::from_pointee(self))
    }
}

/// Hands the heap freed while building a table (tens of megabytes of
/// short-lived JSON trees for the documents) back to the system, so the relay
/// does not idle with about three times the memory it uses. Also called
/// after a reload, once the replaced table is gone. The binary allocates
/// with mimalloc (src/main.rs), which keeps freed pages for reuse until
/// collected; glibc, the allocator of anything else linking this crate,
/// keeps freed pages of a fragmented heap mapped until trimmed. Both are
/// asked: each call is cheap when its allocator holds nothing. The crate's
/// `unsafe` calls.
#[allow(unsafe_code)]
pub(crate) fn release_freed_memory() {
    // SAFETY: mi_collect only frees mimalloc's own empty pages (those of this
    // thread, which built the table, and abandoned ones) and purges them.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
