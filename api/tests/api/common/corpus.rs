//! The fixture corpus (tests/data/corpus) and its question set, for tests of ingest and
//! retrieval.

use std::path::{Path, PathBuf};

use chatplane_api::store::Db;

use super::migrated_database;

/// The corpus the tests and the retrieval benchmark use: the project's own fixture documentation
/// site (tests/data/corpus), so that no test reads outside the repository.
pub fn fixture_corpus_dir() -> PathBuf {
    manifest_dir().join("tests/data/corpus")
}

/// A fresh, migrated database holding the fixture corpus, for tests that need no HTTP.
pub async fn corpus_database() -> Db {
    let (db, _) = migrated_database().await;
    chatplane_api::ingest::ingest(&db, &fixture_corpus_dir())
        .await
        .expect("ingest the fixture corpus");
    db
}

/// The fixture corpus's retrieval question set (tests/data/retrieval_questions.json).
pub fn question_set() -> chatplane_api::rag::eval::QuestionSet {
    let path = manifest_dir().join("tests/data/retrieval_questions.json");
    chatplane_api::rag::eval::QuestionSet::load(&path).expect("question set")
}

/// A writable copy of the fixture corpus in a temporary directory, removed on drop.
pub struct CorpusCopy {
    pub dir: PathBuf,
}

impl CorpusCopy {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "chatplane-corpus-{}",
            uuid::Uuid::new_v4().simple()
        ));
        copy_dir(&fixture_corpus_dir(), &dir);
        Self { dir }
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, bytes).expect("write corpus file");
    }

    pub fn append(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        let mut old = std::fs::read_to_string(&path).expect("read corpus file");
        old.push_str(text);
        std::fs::write(path, old).expect("write corpus file");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.join(rel)).expect("remove corpus file");
    }
}

impl Drop for CorpusCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The package's directory, read when the test runs (cargo sets it): `env!`'s value is the
/// directory of the checkout that built this binary, which cargo reuses unchanged for a checkout
/// elsewhere.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
}
