//! The `desawifi` command: parse the CLI, start tracing, load the config,
//! hand over to the daemon or a one-shot verb.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use desawifi::admin::control::{self, Request};
use desawifi::config::Config;
use desawifi::domain::Role;

/// The command line (also read by examples/gen_docs.rs for the man page and
/// completions, which stay out of the shipped binary).
#[derive(Parser)]
#[command(
    name = "desawifi",
    version,
    about = "Captive-portal gateway for free village wifi"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (portal, firewall, accounting) until SIGTERM.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file; exit 0 when valid.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the router's dnsmasq snippet (LAN DNS, RFC 8910 option 114, walled-garden nftset=).
    DnsmasqConf {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Firewall verbs.
    Firewall {
        #[command(subcommand)]
        verb: FirewallVerb,
    },
    /// Admin accounts for the HTTPS console and API (works while the daemon runs).
    User {
        #[command(subcommand)]
        verb: UserVerb,
    },
    /// The admin listener.
    Admin {
        #[command(subcommand)]
        verb: AdminVerb,
    },
    /// The regency's signed policy: make a key, sign a document, verify one.
    Policy {
        #[command(subcommand)]
        verb: PolicyVerb,
    },
    /// The village's battery (`[power]`).
    Power {
        #[command(subcommand)]
        verb: PowerVerb,
    },
    /// Check this box (nf_tables, HTB/TBF, dnsmasq, interfaces, ip_forward, store, clock); exit 0 when all is well.
    Doctor {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserVerb {
    /// Add an account; the password is read from stdin (asked twice on a terminal).
    Add {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        username: String,
        /// `admin` changes things; `viewer` only reads.
        #[arg(long)]
        role: Role,
    },
    /// Set a new password (from stdin); the account's logins end.
    Passwd {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Remove an account; its logins end.
    Remove {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// List the accounts.
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyVerb {
    /// Make a signing key: DIR/policy.key (private, PKCS#8 PEM, mode 0600) and DIR/policy.pub (base64).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Check POLICY with the config validator and write POLICY.sig (ed25519 over its exact bytes).
    Sign {
        /// The private key (policy.key).
        #[arg(long)]
        key: PathBuf,
        policy: PathBuf,
    },
    /// Check POLICY.sig, the document and its expiry; exit 0 only when all are good.
    Verify {
        /// The public key file (policy.pub: base64, or a PEM PUBLIC KEY).
        #[arg(long)]
        public_key: PathBuf,
        policy: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminVerb {
    /// Print the admin certificate's SHA-256 fingerprint (makes the self-signed one if absent).
    Fingerprint {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum PowerVerb {
    /// Read the battery once: print the reading, its health and the mode the gateway would decide.
    Status {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum FirewallVerb {
    /// Remove the `inet desawifi` table (clients become unfiltered).
    Clear {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // One-shot account verbs print their result; their logs are for RUST_LOG.
    let default_filter = if matches!(
        cli.command,
        Command::User { .. } | Command::Admin { .. } | Command::Policy { .. }
    ) {
        "desawifi=warn"
    } else {
        "desawifi=info"
    };
    desawifi::telemetry::init_logging(default_filter);
    let result = match cli.command {
        Command::CheckConfig { config } => Config::load(&config).map(|c| {
            println!("{}: ok ({})", config.display(), c.site.name);
        }).map_err(anyhow::Error::from),
        Command::Run { config } => Config::load(&config).map_err(anyhow::Error::from).and_then(|c| runtime()?.block_on(desawifi::daemon::run(c))),
        Command::DnsmasqConf { config } => Config::load(&config).map(|c| {
            for d in c.walled_garden.domains.iter().filter(|d| !desawifi::dnsmasq::probes_covered_by(d).is_empty()) {
                eprintln!("desawifi: walled_garden.domains: {d} covers an OS connectivity probe; left out of the snippet");
            }
            print!("{}", desawifi::dnsmasq::snippet(&c));
        }).map_err(anyhow::Error::from),
        Command::Firewall { verb: FirewallVerb::Clear { config } } => Config::load(&config)
            .map_err(anyhow::Error::from)
            .and_then(|c| runtime()?.block_on(desawifi::daemon::firewall_clear(&c))),
        Command::Power { verb: PowerVerb::Status { config } } => Config::load(&config)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                let state = runtime()?.block_on(desawifi::power::read_once(&c.power));
                print!("{state}");
                if matches!(state.health, desawifi::power::Health::Unknown { .. }) {
                    bail!("the battery could not be read")
                }
                Ok(())
            }),
        Command::User { verb } => user(verb),
        Command::Policy { verb } => policy(verb),
        Command::Doctor { config } => Config::load(&config)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                let report = desawifi::doctor::run(&c);
                print!("{report}");
                if report.healthy() {
                    Ok(())
                } else {
                    bail!("this box is not ready (see FAIL above)")
                }
            }),
        Command::Admin { verb: AdminVerb::Fingerprint { config } } => Config::load(&config)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                println!("{}", desawifi::admin::tls::fingerprint(&c)?);
                Ok(())
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("desawifi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `desawifi policy ...`: files in, files out; the rules are `desawifi::policy`'s.
fn policy(verb: PolicyVerb) -> anyhow::Result<()> {
    use desawifi::policy::{self, Policy};
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let read =
        |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let sig_path = |p: &PathBuf| {
        let mut s = p.clone().into_os_string();
        s.push(".sig");
        PathBuf::from(s)
    };
    match verb {
        PolicyVerb::Keygen { out } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot make {}", out.display()))?;
            let key = policy::generate_key()?;
            let private = out.join("policy.key");
            // create_new: never overwrite a key the villages already trust.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&private)
                .and_then(|mut f| {
                    f.write_all(key.to_pem().as_bytes())
                        .and_then(|()| f.sync_all())
                })
                .with_context(|| format!("cannot write {}", private.display()))?;
            let public = out.join("policy.pub");
            std::fs::write(&public, format!("{}\n", key.public().to_text()))
                .with_context(|| format!("cannot write {}", public.display()))?;
            println!(
                "{}: private key (keep it off the gateways)\n{}: {}",
                private.display(),
                public.display(),
                key.public().to_text()
            );
        }
        PolicyVerb::Sign { key, policy: doc } => {
            let key_text = String::from_utf8(read(&key)?)
                .with_context(|| format!("{}: not text", key.display()))?;
            let key = policy::private_key_from_pem(&key_text)
                .with_context(|| key.display().to_string())?;
            let bytes = read(&doc)?;
            let parsed =
                Policy::parse(&bytes).with_context(|| format!("{} (not signed)", doc.display()))?;
            if parsed.expired(desawifi::clock::Clock::now(&desawifi::clock::SystemClock)) {
                eprintln!(
                    "desawifi: {}: expires = {:?} has passed: gateways will refuse it",
                    doc.display(),
                    parsed.expires_text
                );
            }
            let sig = policy::sign(&key, &bytes)?;
            let out = sig_path(&doc);
            std::fs::write(&out, sig.to_text())
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "{}: signed version {} (expires {})",
                out.display(),
                parsed.version,
                parsed.expires_text
            );
        }
        PolicyVerb::Verify {
            public_key,
            policy: doc,
        } => {
            let text = String::from_utf8(read(&public_key)?)
                .with_context(|| format!("{}: not text", public_key.display()))?;
            let trusted = policy::public_key_from_text(&text)
                .with_context(|| public_key.display().to_string())?;
            let bytes = read(&doc)?;
            let sig = read(&sig_path(&doc))?;
            let now = desawifi::clock::Clock::now(&desawifi::clock::SystemClock);
            let p = policy::verify(&bytes, &sig, &trusted, now)
                .with_context(|| doc.display().to_string())?;
            println!(
                "{}: ok (version {}, expires {})",
                doc.display(),
                p.version,
                p.expires_text
            );
        }
    }
    Ok(())
}

/// `desawifi user ...`: through the daemon's control socket, or on the store when no daemon runs.
fn user(verb: UserVerb) -> anyhow::Result<()> {
    use desawifi::accounts::{check_password, check_username};
    let (config, request, done) = match verb {
        UserVerb::Add {
            config,
            username,
            role,
        } => {
            check_username(&username)?;
            let password = desawifi::accounts::read_password()?;
            (
                config,
                Request::Add {
                    username: username.clone(),
                    role,
                    password,
                },
                format!("added user \"{username}\" ({})", role.as_str()),
            )
        }
        UserVerb::Passwd { config, username } => {
            check_username(&username)?;
            let password = desawifi::accounts::read_password()?;
            check_password(&password)?;
            (
                config,
                Request::Passwd {
                    username: username.clone(),
                    password,
                },
                format!("new password for user \"{username}\"; its logins ended"),
            )
        }
        UserVerb::Remove { config, username } => (
            config,
            Request::Remove {
                username: username.clone(),
            },
            format!("removed user \"{username}\""),
        ),
        UserVerb::List { config } => (config, Request::List, String::new()),
    };
    let config = Config::load(&config)?;
    let (answer, _through_daemon) = runtime()?.block_on(control::run(&config, request))?;
    if let Some(error) = answer.error {
        bail!("{error}");
    }
    match answer.users {
        Some(users) => {
            let width = users
                .iter()
                .map(|u| u.username.len())
                .max()
                .unwrap_or(0)
                .max("USERNAME".len());
            println!("{:width$}  {:6}  CREATED", "USERNAME", "ROLE");
            for u in users {
                let created = jiff::Timestamp::from_second(u.created)
                    .map(|t| {
                        t.to_zoned_datetime(config.site.timezone.clone())
                            .strftime("%Y-%m-%d %H:%M %Z")
                            .to_string()
                    })
                    .unwrap_or_else(|_| u.created.to_string());
                println!("{:width$}  {:6}  {created}", u.username, u.role.as_str());
            }
        }
        None => println!("{done}"),
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The static musl builds' allocator (scripts/dist.sh links zig's libc, whose
/// `malloc` is zig's SmpAllocator): blocks of [`big_blocks::BIG`] and more
/// come straight from `mmap` and go back with `munmap`, as glibc does them.
/// zig's `calloc` leaves every page of a block resident, so sled's 41 metric
/// histograms (512 KiB each, asked for zeroed, never written: Cargo.toml)
/// were 20 MiB resident; fresh anonymous pages are zero without being
/// touched, and a freed big block (an `nft -j` listing) goes back to the
/// kernel instead of into the allocator's lists (BENCHMARKS.md, "Release
/// builds").
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[global_allocator]
static ALLOC: big_blocks::BigBlocks = big_blocks::BigBlocks;

#[cfg(all(target_os = "linux", target_env = "musl"))]
mod big_blocks {
    use std::alloc::{GlobalAlloc, Layout, System};

    /// Blocks at least this big are mapped (glibc's default mmap threshold).
    pub const BIG: usize = 128 * 1024;

    /// `System` for small blocks, `mmap` for big ones.
    pub struct BigBlocks;

    /// Mapped: big, and no stricter alignment than a page (mmap's).
    fn mapped(layout: Layout) -> bool {
        layout.size() >= BIG && layout.align() <= 4096
    }

    /// Fresh zeroed pages, or null.
    fn map(size: usize) -> *mut u8 {
        // SAFETY: a new private anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    // SAFETY: every block is either System's (small layouts, handed back to
    // System) or a mapping of exactly `layout.size()` bytes (big layouts,
    // unmapped with that size); which one follows from the layout alone,
    // and GlobalAlloc's callers pass the layout the block was made with.
    unsafe impl GlobalAlloc for BigBlocks {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if mapped(layout) {
                map(layout.size())
            } else {
                // SAFETY: forwarded with the caller's guarantees.
                unsafe { System.alloc(layout) }
            }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if mapped(layout) {
                map(layout.size()) // anonymous pages read as zero
            } else {
                // SAFETY: forwarded with the caller's guarantees.
                unsafe { System.alloc_zeroed(layout) }
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if mapped(layout) {
                // SAFETY: `ptr` is our mapping of `layout.size()` bytes.
                unsafe { libc::munmap(ptr.cast(), layout.size()) };
            } else {
                // SAFETY: forwarded with the caller's guarantees.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller guarantees new_size, rounded up to the
            // alignment, does not overflow isize.
            let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            match (mapped(layout), mapped(new)) {
                // SAFETY: forwarded with the caller's guarantees.
                (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
                (true, true) => {
                    // SAFETY: `ptr` is our mapping of `layout.size()` bytes;
                    // the kernel moves it if it cannot grow in place.
                    let p = unsafe {
                        libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE)
                    };
                    if p == libc::MAP_FAILED {
                        std::ptr::null_mut()
                    } else {
                        p.cast()
                    }
                }
                _ => {
                    // SAFETY: `new` has a non-zero size (`ptr`'s block is
                    // valid for `layout`, and one side is big).
                    let p = unsafe { self.alloc(new) };
                    if !p.is_null() {
                        // SAFETY: both blocks are valid for the smaller size
                        // and distinct; the old one is then freed once.
                        unsafe {
                            std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                            self.dealloc(ptr, layout);
                        }
                    }
                    p
                }
            }
        }
    }
}

/// glibc gives every thread that allocates its own arena and keeps each
/// arena's high-water mark: parsing a big `nft -j` document on a different
/// worker each accounting pass left the daemon's resident memory at several
/// times what it holds (BENCHMARKS.md, "Resident memory"). Two arenas (one
/// per core of a small router) and an earlier trim keep it near the live data.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called first thing, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}
