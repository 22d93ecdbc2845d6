//! `kefu backup` / `kefu restore` for the embedded database: a consistent copy made with
//! `VACUUM INTO` while the server runs, plus the files folder, in one tar. Restoring needs the
//! server stopped (it takes the writer lock) and checks the copy before it replaces anything.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, bail};

pub async fn backup(data_dir: &Path, out: &Path) -> Result<()> {
    let db = data_dir.join("kefu.db");
    if !db.exists() {
        bail!("no database at {}", db.display());
    }
    let work = tempfile_in(data_dir)?;
    let snapshot = work.join("kefu.db");
    store::sqlite_snapshot(&db, &snapshot)
        .await
        .context("copying the database")?;
    let tmp_out = out.with_extension("tar.partial");
    {
        let file =
            File::create(&tmp_out).with_context(|| format!("creating {}", tmp_out.display()))?;
        let mut tar = tar::Builder::new(file);
        tar.append_path_with_name(&snapshot, "kefu.db")?;
        let files = data_dir.join("files");
        if files.is_dir() {
            tar.append_dir_all("files", &files)?;
        }
        tar.into_inner()?.sync_all()?;
    }
    std::fs::rename(&tmp_out, out)?;
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

pub async fn restore(data_dir: &Path, archive: &Path, force: bool) -> Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let db = data_dir.join("kefu.db");
    let _lock =
        store::lock_database(&db).context("kefu is running on this data folder; stop it first")?;
    if db.exists() && !force {
        bail!("{} exists; pass --force to replace it", db.display());
    }
    let work = tempfile_in(data_dir)?;
    let mut tar = tar::Archive::new(
        File::open(archive).with_context(|| format!("opening {}", archive.display()))?,
    );
    // `unpack` refuses entries that would land outside `work` (absolute paths, ..).
    tar.unpack(&work).context("unpacking the backup")?;
    let restored = work.join("kefu.db");
    if !restored.exists() {
        bail!("{} holds no kefu.db", archive.display());
    }
    store::sqlite_check(&restored)
        .await
        .context("the backup's database is damaged")?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("kefu.db{suffix}")));
    }
    std::fs::rename(&restored, &db)?;
    let files = work.join("files");
    if files.is_dir() {
        let target = data_dir.join("files");
        if target.exists() {
            std::fs::rename(&target, data_dir.join(".files-before-restore")).ok();
        }
        std::fs::rename(&files, &target)?;
        let _ = std::fs::remove_dir_all(data_dir.join(".files-before-restore"));
    }
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> Result<std::path::PathBuf> {
    let p = dir.join(format!(".kefu-work-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
