//! A filesystem that forgets like a power cut (after Jepsen's LazyFS, much smaller).
//!
//! [`LazyFs::mount`] serves a FUSE filesystem at a mount point that passes every
//! operation through to a backing directory, but remembers, for every `write`
//! and truncate since the file's last `fsync`/`fdatasync`, the bytes it
//! overwrote. [`LazyFs::cut`] is the power going out: every later request
//! fails with EIO, every unsynced write is rolled back (newest first), so the
//! backing directory holds exactly what had been made durable, and the
//! filesystem is unmounted (the kernel's page cache of it goes too). With
//! `tear`, the newest unsynced write is not rolled back whole: a random
//! prefix of it stays, as a cheap SD card may leave half a sector behind.
//! Mount again on the same backing directory to "boot" on what survived.
//!
//! What is durable, precisely:
//! - file data: only what an `fsync` or `fdatasync` on the file (any of its
//!   descriptors) covered. `sync_file_range` never reaches a FUSE filesystem,
//!   and the man page says it makes nothing durable, so here it does not.
//! - metadata (create, mkdir, unlink, rename, mknod): durable at once, as on
//!   a journaling filesystem that commits it before the power goes. A file
//!   created and never fsynced survives a cut empty (ext4's well-known
//!   zero-length file).
//!
//! It runs inside the test process (one FUSE thread); the daemon under test
//! is another process using the mount. It needs /dev/fuse and root (or
//! `fusermount3` from Debian's `fuse3`): [`LazyFs::mount`] fails the test
//! naming the package when either is missing, it never skips.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};

const TTL: Duration = Duration::from_secs(1);

/// One write or truncate not yet fsynced: how to undo it.
#[derive(Debug)]
struct Undo {
    /// The backing file's inode number.
    ino: u64,
    /// The file's length before the change.
    old_len: u64,
    /// Where the change began, and the bytes it overwrote there (those below `old_len`).
    offset: u64,
    old: Vec<u8>,
    /// How many bytes the change wrote (0 for a truncate).
    written: u64,
}

/// What the mounted filesystem knows; one lock for all of it.
struct State {
    root: PathBuf,
    /// Inode number -> path relative to `root` (the root is inode 1).
    paths: HashMap<u64, PathBuf>,
    /// Open file handles.
    files: HashMap<u64, (u64, File)>,
    next_fh: u64,
    /// Every unsynced change, oldest first.
    undo: Vec<Undo>,
    /// The power is out: every request fails.
    cut: bool,
    /// The power goes at the next fsync (before it makes anything durable).
    armed: bool,
    /// Counters, for the report.
    stats: Stats,
}

/// What the filesystem saw, for the test's report.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    writes: u64,
    fsyncs: u64,
}

/// What one cut took away.
#[derive(Debug, Default, Clone, Copy)]
pub struct CutReport {
    /// Unsynced writes and truncates rolled back.
    pub dropped: usize,
    /// Their bytes.
    pub dropped_bytes: u64,
    /// Bytes of the torn last write that were left on "disk" (`tear` only).
    pub torn_kept: Option<u64>,
    /// Writes and fsyncs the filesystem served since it was mounted.
    pub writes: u64,
    pub fsyncs: u64,
}

impl State {
    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.paths
            .get(&ino.0)
            .map(|p| self.root.join(p))
            .ok_or(Errno::ENOENT)
    }

    fn rel(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        let p = self.paths.get(&parent.0).ok_or(Errno::ENOENT)?;
        Ok(p.join(name))
    }

    fn attr_of(&mut self, rel: &Path) -> Result<FileAttr, Errno> {
        let m = fs::symlink_metadata(self.root.join(rel)).map_err(Errno::from)?;
        let ino = if rel.as_os_str().is_empty() {
            1
        } else {
            m.ino()
        };
        self.paths.insert(ino, rel.to_path_buf());
        Ok(attr(ino, &m))
    }

    /// Forget unsynced changes of `ino` (fsync, unlink).
    fn settle(&mut self, ino: u64) {
        self.undo.retain(|u| u.ino != ino);
    }

    /// Record what a write of `len` bytes at `offset` to `f` will overwrite.
    fn remember(&mut self, ino: u64, f: &File, offset: u64, len: u64) -> Result<(), Errno> {
        let old_len = f.metadata().map_err(Errno::from)?.len();
        let keep = old_len.saturating_sub(offset).min(len);
        let mut old = vec![0; keep as usize];
        f.read_exact_at(&mut old, offset).map_err(Errno::from)?;
        self.undo.push(Undo {
            ino,
            old_len,
            offset,
            old,
            written: len,
        });
        Ok(())
    }

    /// Truncate (or extend) `f` to `len`, remembering what goes.
    fn truncate(&mut self, ino: u64, f: &File, len: u64) -> Result<(), Errno> {
        let old_len = f.metadata().map_err(Errno::from)?.len();
        if old_len == len {
            return Ok(());
        }
        let mut old = vec![0; old_len.saturating_sub(len) as usize];
        f.read_exact_at(&mut old, len).map_err(Errno::from)?;
        self.undo.push(Undo {
            ino,
            old_len,
            offset: len,
            old,
            written: 0,
        });
        f.set_len(len).map_err(Errno::from)
    }

    /// The backing path of inode `ino`, if the file still exists.
    fn find(&self, ino: u64) -> Option<PathBuf> {
        let p = self.root.join(self.paths.get(&ino)?);
        (fs::symlink_metadata(&p).ok()?.ino() == ino).then_some(p)
    }
}

fn attr(ino: u64, m: &fs::Metadata) -> FileAttr {
    let t = |s: i64, ns: i64| UNIX_EPOCH + Duration::new(s.max(0) as u64, ns as u32);
    let ft = m.file_type();
    let kind = FileType::from_std(ft).unwrap_or(FileType::RegularFile);
    FileAttr {
        ino: INodeNo(ino),
        size: m.len(),
        blocks: m.blocks(),
        atime: t(m.atime(), m.atime_nsec()),
        mtime: t(m.mtime(), m.mtime_nsec()),
        ctime: t(m.ctime(), m.ctime_nsec()),
        crtime: SystemTime::UNIX_EPOCH,
        kind,
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: m.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

/// The filesystem as fuser sees it: a handle on the shared state.
struct Fs(Arc<Mutex<State>>);

/// Lock the state, or answer EIO when the power is out.
macro_rules! lock_or_eio {
    ($self:ident, $reply:ident) => {{
        let s = $self.0.lock().unwrap();
        if s.cut {
            return $reply.error(Errno::EIO);
        }
        s
    }};
}

/// `Result<T, Errno>` -> reply.
macro_rules! tri {
    ($e:expr, $reply:ident) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $reply.error(e),
        }
    };
}

fn open_options(flags: i32) -> OpenOptions {
    // Always readable: a write must first read the bytes it overwrites.
    let mut o = OpenOptions::new();
    o.read(true)
        .write(flags & libc::O_ACCMODE != libc::O_RDONLY);
    // Writes come with their offset (the kernel resolves O_APPEND); truncation is ours.
    let strip = libc::O_ACCMODE | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
    o.custom_flags(flags & !strip);
    o
}

impl fuser::Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.rel(parent, name), reply);
        let a = tri!(s.attr_of(&rel), reply);
        reply.entry(&TTL, &a, Generation(0));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT), reply);
        let a = tri!(s.attr_of(&rel), reply);
        reply.attr(&TTL, &a);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let path = tri!(s.path(ino), reply);
        if let Some(mode) = mode {
            tri!(
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(Errno::from),
                reply
            );
        }
        if uid.is_some() || gid.is_some() {
            tri!(
                std::os::unix::fs::lchown(&path, uid, gid).map_err(Errno::from),
                reply
            );
        }
        if let Some(size) = size {
            let f = tri!(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(Errno::from),
                reply
            );
            let real = tri!(f.metadata().map_err(Errno::from), reply).ino();
            tri!(s.truncate(real, &f, size), reply);
        }
        let rel = s.paths[&ino.0].clone();
        let a = tri!(s.attr_of(&rel), reply);
        reply.attr(&TTL, &a);
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.rel(parent, name), reply);
        let c = CString::new(s.root.join(&rel).as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string; mknod only reads it.
        if unsafe { libc::mknod(c.as_ptr(), mode & !umask, libc::dev_t::from(rdev)) } != 0 {
            return reply.error(Errno::from(std::io::Error::last_os_error()));
        }
        let a = tri!(s.attr_of(&rel), reply);
        reply.entry(&TTL, &a, Generation(0));
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.rel(parent, name), reply);
        let path = s.root.join(&rel);
        tri!(fs::create_dir(&path).map_err(Errno::from), reply);
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode & !umask & 0o7777));
        let a = tri!(s.attr_of(&rel), reply);
        reply.entry(&TTL, &a, Generation(0));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.rel(parent, name), reply);
        let path = s.root.join(&rel);
        let ino = tri!(fs::symlink_metadata(&path).map_err(Errno::from), reply).ino();
        tri!(fs::remove_file(&path).map_err(Errno::from), reply);
        s.settle(ino);
        reply.ok();
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let s = lock_or_eio!(self, reply);
        let rel = tri!(s.rel(parent, name), reply);
        tri!(
            fs::remove_dir(s.root.join(&rel)).map_err(Errno::from),
            reply
        );
        reply.ok();
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let from = tri!(s.rel(parent, name), reply);
        let to = tri!(s.rel(newparent, newname), reply);
        let replaced = fs::symlink_metadata(s.root.join(&to)).ok().map(|m| m.ino());
        tri!(
            fs::rename(s.root.join(&from), s.root.join(&to)).map_err(Errno::from),
            reply
        );
        if let Some(ino) = replaced {
            s.settle(ino);
        }
        let _ = s.attr_of(&to);
        reply.ok();
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = lock_or_eio!(self, reply);
        let path = tri!(s.path(ino), reply);
        let f = tri!(
            open_options(flags.0).open(&path).map_err(Errno::from),
            reply
        );
        let real = tri!(f.metadata().map_err(Errno::from), reply).ino();
        if flags.0 & libc::O_TRUNC != 0 {
            tri!(s.truncate(real, &f, 0), reply);
        }
        let fh = s.next_fh;
        s.next_fh += 1;
        s.files.insert(fh, (real, f));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.rel(parent, name), reply);
        let mut o = open_options(flags);
        o.create(true).mode(mode & !umask & 0o7777);
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            o.write(true);
        }
        if flags & libc::O_EXCL != 0 {
            o.create_new(true);
        }
        let f = tri!(o.open(s.root.join(&rel)).map_err(Errno::from), reply);
        let real = tri!(f.metadata().map_err(Errno::from), reply).ino();
        if flags & libc::O_TRUNC != 0 {
            tri!(s.truncate(real, &f, 0), reply);
        }
        let a = tri!(s.attr_of(&rel), reply);
        let fh = s.next_fh;
        s.next_fh += 1;
        s.files.insert(fh, (real, f));
        reply.created(&TTL, &a, Generation(0), FileHandle(fh), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = lock_or_eio!(self, reply);
        let (_, f) = tri!(s.files.get(&fh.0).ok_or(Errno::EBADF), reply);
        let mut buf = vec![0; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => return reply.error(Errno::from(e)),
            }
        }
        reply.data(&buf[..got]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let (ino, f) = tri!(
            s.files
                .get(&fh.0)
                .and_then(|(i, f)| Some((*i, f.try_clone().ok()?)))
                .ok_or(Errno::EBADF),
            reply
        );
        tri!(s.remember(ino, &f, offset, data.len() as u64), reply);
        tri!(f.write_all_at(data, offset).map_err(Errno::from), reply);
        s.stats.writes += 1;
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Even after the cut: the kernel releases the daemon's files when it dies.
        self.0.lock().unwrap().files.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let ino = tri!(
            s.files.get(&fh.0).map(|(i, _)| *i).ok_or(Errno::EBADF),
            reply
        );
        if s.armed {
            // The power goes during this fsync: it fails, nothing more happens.
            s.cut = true;
            return reply.error(Errno::EIO);
        }
        // fsync is per inode: every descriptor's writes are now durable.
        s.settle(ino);
        s.stats.fsyncs += 1;
        reply.ok();
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut s = lock_or_eio!(self, reply);
        let rel = tri!(s.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT), reply);
        let mut entries = vec![
            (ino.0, FileType::Directory, OsStr::new(".").to_owned()),
            (ino.0, FileType::Directory, OsStr::new("..").to_owned()),
        ];
        let dir = tri!(fs::read_dir(s.root.join(&rel)).map_err(Errno::from), reply);
        for e in dir.flatten() {
            let Ok(m) = e.metadata() else { continue };
            let kind = FileType::from_std(m.file_type()).unwrap_or(FileType::RegularFile);
            s.paths.insert(m.ino(), rel.join(e.file_name()));
            entries.push((m.ino(), kind, e.file_name()));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Metadata is durable at once here.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(1 << 20, 1 << 19, 1 << 19, 1 << 16, 1 << 15, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}

/// A mounted [`LazyFs`]: the mount point serves the backing directory until [`LazyFs::cut`].
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

/// Fails the test, naming the package, when FUSE cannot be used here.
fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: the kernel needs FUSE (modprobe fuse; apt-get install fuse3)"
    );
    assert!(
        ["/usr/bin/fusermount3", "/bin/fusermount3"]
            .iter()
            .any(|p| Path::new(p).exists()),
        "fusermount3 not found: apt-get install fuse3"
    );
}

impl LazyFs {
    /// Serve `backing` at `mountpoint` (both directories; made if missing).
    pub fn mount(backing: &Path, mountpoint: &Path) -> LazyFs {
        require_fuse();
        fs::create_dir_all(backing).unwrap_or_else(|e| panic!("{}: {e}", backing.display()));
        fs::create_dir_all(mountpoint).unwrap_or_else(|e| panic!("{}: {e}", mountpoint.display()));
        let state = Arc::new(Mutex::new(State {
            root: backing.canonicalize().unwrap(),
            paths: HashMap::from([(1, PathBuf::new())]),
            files: HashMap::new(),
            next_fh: 1,
            undo: Vec::new(),
            cut: false,
            armed: false,
            stats: Stats::default(),
        }));
        let mut config = Config::default();
        // The daemon runs as root like the test: the owner's ACL lets it in.
        config.mount_options = vec![MountOption::FSName("lazyfs".into())];
        let session = fuser::spawn_mount(Fs(state.clone()), mountpoint, &config)
            .unwrap_or_else(|e| {
                panic!(
                    "mounting the FUSE filesystem at {}: {e} (needs /dev/fuse and root, or fusermount3: apt-get install fuse3)",
                    mountpoint.display()
                )
            });
        LazyFs {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        }
    }

    /// Make the power go out at the next fsync: that fsync fails with EIO,
    /// and so does every request after it, until [`LazyFs::cut`] (which
    /// then drops the writes that fsync was to make durable).
    pub fn arm(&self) {
        self.state.lock().unwrap().armed = true;
    }

    /// Has the armed cut happened (an fsync came)?
    pub fn fired(&self) -> bool {
        self.state.lock().unwrap().cut
    }

    /// Unsynced changes held right now.
    pub fn unsynced(&self) -> usize {
        self.state.lock().unwrap().undo.len()
    }

    /// The power goes out: every request from now on fails, every unsynced
    /// change is undone (newest first; with `tear = Some(r)`, the newest
    /// write keeps its first `r % (its length + 1)` bytes), and the
    /// filesystem is unmounted. Whoever still uses it must be dead already.
    pub fn cut(mut self, tear: Option<u64>) -> CutReport {
        let mut report = CutReport::default();
        {
            let mut s = self.state.lock().unwrap();
            s.cut = true;
            (report.writes, report.fsyncs) = (s.stats.writes, s.stats.fsyncs);
            let undo = std::mem::take(&mut s.undo);
            report.dropped = undo.len();
            let newest = undo.len().checked_sub(1);
            for (i, u) in undo.into_iter().enumerate().rev() {
                report.dropped_bytes += u.written.max(u.old.len() as u64);
                let Some(path) = s.find(u.ino) else { continue };
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("cut: {}: {e}", path.display()));
                let mut keep = 0;
                if let (Some(r), true) = (tear, Some(i) == newest && u.written > 0) {
                    keep = r % (u.written + 1);
                    report.torn_kept = Some(keep);
                }
                let from = keep.min(u.old.len() as u64);
                f.write_all_at(&u.old[from as usize..], u.offset + from)
                    .unwrap();
                f.set_len(u.old_len.max(u.offset + keep)).unwrap();
            }
        }
        self.unmount();
        report
    }

    /// Detach the mount and let its session go without waiting for it.
    ///
    /// Every process that entered a new mount namespace while this was
    /// mounted (each `ip netns exec`: the daemon, curl, other tests' daemons
    /// on the same machine) holds a copy of the mount, and the kernel ends the
    /// FUSE session only when the last copy goes. So the session is never
    /// joined (that can take as long as another test's daemon runs), and its
    /// `Mount` is never dropped (fuser would then unmount whatever is at the
    /// path by then: the next mount). The old session answers EIO to anyone
    /// left with a copy, and its thread ends when the last copy goes.
    fn unmount(&mut self) {
        if let Some(session) = self.session.take() {
            let c = CString::new(self.mountpoint.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid C string; umount2 only reads it.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                eprintln!(
                    "lazyfs: detaching {}: {}",
                    self.mountpoint.display(),
                    std::io::Error::last_os_error()
                );
            }
            std::mem::forget(session);
        }
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        self.unmount();
    }
}
