//! The `dropgate` command: parses the command line, sets up logging, and hands over to the
//! library. Exit status: 0 on success, 1 when the command failed, 2 on a usage error.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use dropgate::check::datasets::Dataset;
use dropgate::check::messages::schemas::Standard;
use dropgate::config::{Config, ConfigError};
use dropgate::layout::StateDir;
use dropgate::mail::Wake;
use tokio_util::sync::CancellationToken;

/// dropgate: SFTP drop box of a Trusted Third Party for care data. Suppliers deliver files
/// over SFTP; dropgate records, checks and pseudonymises them and hands municipalities
/// weekly hashed bundles.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    /// Configuration file (TOML). Relative paths inside it resolve against its folder.
    #[arg(
        long,
        short,
        global = true,
        env = "DROPGATE_CONFIG",
        default_value = "/etc/dropgate/dropgate.toml"
    )]
    config: PathBuf,
    /// Log format on stderr. The level comes from RUST_LOG (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
    /// Whether `--config` (or `DROPGATE_CONFIG`) was given rather than defaulted.
    #[arg(skip)]
    config_given: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpecFormat {
    Md,
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: create tenant folders, record uploads, serve until SIGTERM.
    /// SIGHUP reloads the configuration.
    Run,
    /// Check the configuration and list every problem found; exit 1 if there is any.
    CheckConfig,
    /// Write a new pseudonymisation key (32 random bytes, mode 0600). Never overwrites.
    Keygen {
        /// Where to write it; default: `ttp_key_file` from the configuration.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Read a password from stdin (without echo on a terminal) and print its Argon2id hash
    /// for a user's `password_hash`.
    HashPassword,
    /// Process every waiting delivery now, as the daily run does. Safe while the daemon runs:
    /// each file is processed once, whichever run gets to it.
    Process,
    /// Publish bundles for municipalities: `--now` makes this week's bundles at once (the
    /// measurement bundle and the Ketendata bundles of iJw/iWmo messages, and any full
    /// bundle asked for); `--full --tenant T --since DATE` asks for a full bundle of
    /// everything from DATE on, made at the next weekly run (or at once with `--now`);
    /// `--full --product ijw` (or `iwmo`) the same for a Ketendata total file, from
    /// 2021-01-01 unless `--since` says otherwise. Safe while the daemon runs.
    Publish {
        /// Publish now instead of at the weekly run.
        #[arg(long)]
        now: bool,
        /// Only this municipality (tenant id); needed with --full.
        #[arg(long)]
        tenant: Option<String>,
        /// A full bundle instead of the new rows only.
        #[arg(long, requires = "tenant")]
        full: bool,
        /// With --full: the first date (yyyy-mm-dd) to include (a Ketendata total file
        /// starts at 2021-01-01 without it).
        #[arg(long, requires = "full")]
        since: Option<chrono::NaiveDate>,
        /// With --full: a Ketendata total file of this law's messages instead of a
        /// measurement bundle.
        #[arg(long, requires = "full", value_parser = ["ijw", "iwmo"])]
        product: Option<String>,
    },
    /// Delete what has outlived its retention now (bundles, originals, receipts), as the
    /// daily sweep does.
    Sweep,
    /// Send the reminders due now, as the daemon does every day at 08:00: to a tenant with
    /// `expect_delivery_days` that has not delivered for that long, and of a user whose
    /// `expires` day is 30 or 7 days away (copies to `[mail] admin`). Each goes out once.
    Remind,
    /// Check a delivery file offline, as the daily run would (no key or state needed: BSNs
    /// get the 11-check only), in the same confined reader with the same limits: those of
    /// `[limits]` in the configuration if it exists, else the defaults. Prints what the
    /// receipt would say, in the configuration's language (Dutch by default); exit 0 if
    /// every row passes.
    Validate {
        /// The files: CSV, Excel (xlsx, xls, ods) or XML. With several, each gets its
        /// report (JSON: an array); exit 0 only if every file passes.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check against this dataset instead of detecting it from the header.
        #[arg(long, value_parser = ["metingen", "beschikkingen"])]
        dataset: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the delivery specification, in Dutch: every column of both datasets with what
    /// it holds, the rules it is checked against (with their ids, as receipts give them) and
    /// an example. Written from the checks' own rule table. Needs no configuration.
    Spec {
        /// Markdown for people, or CSV (`;`) for a spreadsheet or a script.
        #[arg(long, value_enum, default_value_t = SpecFormat::Md)]
        format: SpecFormat,
    },
    /// Internal: read and check one delivered file (stdin) in a confined child and stream
    /// the result to stdout. Started by dropgate itself, never by hand.
    #[command(name = "read-delivery", hide = true)]
    ReadDelivery { job: String },
    /// Mail: send a test message through the configured transport.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Back up the ledger (a consistent copy, safe while the daemon runs), every key (TTP,
    /// municipalities, SFTP host keys), the configuration and the files it names (users'
    /// key files, the SMTP password and CA files) into a new or empty folder, with a
    /// MANIFEST of SHA-256 sums written last. Keep it apart and safe: it holds the
    /// keys.
    Backup {
        /// The folder to write; it must not exist or be empty.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup onto this machine: every file is checked against the MANIFEST and
    /// the keys against the ledger first; the ledger goes into this configuration's
    /// state_dir, the keys where it places them, the files the configuration names where
    /// it (or else the backup's) names them, and the backup's configuration beside it as
    /// dropgate.toml.restored. Stop the daemon first.
    Restore {
        /// The backup folder.
        #[arg(long)]
        from: PathBuf,
        /// Restore into a state directory that is not empty; files in the way are set
        /// aside (`.before-restore-<time>`), never deleted.
        #[arg(long)]
        force: bool,
    },
    /// Invite a new SFTP user by mail, instead of exchanging keys by hand: the mail holds the
    /// user name, the server's address and host-key fingerprints, and a one-time code valid
    /// for 7 days. The invitee logs in once with the code as password and puts its public
    /// key to `.ssh/authorized_keys` (`put id_ed25519.pub .ssh/authorized_keys`); that key
    /// then lets it in, and the code is void. The ledger keeps only the code's hash. Needs
    /// the daemon to have run once (for its host keys and the tenant). Every step is
    /// audited.
    Invite {
        /// The tenant the user acts for (a new invitation).
        #[arg(long, requires = "email", conflicts_with_all = ["renew", "revoke", "list"])]
        tenant: Option<String>,
        /// What the user may do: `deliver` (upload/, receipts/) or `collect` (outbox/);
        /// give it twice for both.
        #[arg(long, value_parser = ["deliver", "collect"], requires = "tenant")]
        role: Vec<String>,
        /// Where the invitation goes.
        #[arg(long, requires = "tenant")]
        email: Option<String>,
        /// The login name; default: made from the address (`Jan.Smit@x.nl` gives `jan.smit`).
        #[arg(long, requires = "tenant")]
        user: Option<String>,
        /// Mail a new code to this invited user (not yet enrolled); the old code is void.
        #[arg(long, value_name = "USER", conflicts_with_all = ["revoke", "list"])]
        renew: Option<String>,
        /// End this user's invitation or enrolment: its code and key no longer let it in.
        #[arg(long, value_name = "USER", conflicts_with = "list")]
        revoke: Option<String>,
        /// List every invitation and enrolment with its state.
        #[arg(long)]
        list: bool,
    },
    /// Show deliveries per state and per tenant, read from the ledger. Safe while the daemon runs.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read the ledger in this state directory instead of the configuration's, e.g. while
        /// the configuration file is being edited.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Send one test message now (not through the queue) and print what the server said.
    ///
    /// It talks to the relay as the daemon does: each step (connect, greeting, each command,
    /// the end of the message) is given up after `[mail] timeout_secs`, the whole after
    /// `send_timeout_secs`, and the step that ran out is named. Exits 1 when not sent.
    Test {
        /// Recipient.
        #[arg(long)]
        to: String,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.config_given =
        matches.value_source("config") != Some(clap::parser::ValueSource::DefaultValue);
    if let Command::ReadDelivery { job } = &cli.command {
        // The confined reader: no logging, no configuration, nothing but the file and a pipe.
        dropgate::check::confine::child_main(job);
    }
    init_logging(cli.log_format);
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // journald and log files want plain text; colours only for a person at a terminal.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = &cli.config;
    match cli.command {
        Command::Run => run(config),
        Command::CheckConfig => Ok(check_config(config)),
        Command::Keygen { out } => keygen(config, out),
        Command::HashPassword => hash_password(),
        Command::Mail {
            command: MailCommand::Test { to },
        } => mail_test(config, to),
        Command::Publish {
            now,
            tenant,
            full,
            since,
            ref product,
        } => {
            let product = product.as_deref().and_then(Standard::by_product);
            if full && since.is_none() && product.is_none() {
                anyhow::bail!(
                    "--full needs --since DATE (or --product for a Ketendata total file)"
                );
            }
            let full = full.then(|| Full {
                since: since.unwrap_or(dropgate::publish::ketendata::FROM),
                product,
            });
            publish(config, now, tenant.as_deref(), full)
        }
        Command::Sweep => sweep(config),
        Command::Remind => remind(config),
        Command::Process => process(config),
        Command::Spec { format } => Ok(spec(format)),
        Command::Validate {
            ref files,
            ref dataset,
            json,
        } => {
            let settings = validate_settings(config, cli.config_given)?;
            let dataset = dataset.as_deref().and_then(Dataset::parse);
            validate(files, dataset, json, &settings)
        }
        Command::ReadDelivery { .. } => unreachable!("handled before logging starts"),
        Command::Status { json, state_dir } => status(config, json, state_dir),
        Command::Backup { ref to } => backup(config, to),
        Command::Invite {
            tenant,
            role,
            email,
            user,
            renew,
            revoke,
            list,
        } => {
            let config = Config::load(config)?;
            let now = dropgate::clock::now();
            invite(
                &config,
                now,
                (tenant, role, email, user),
                renew,
                revoke,
                list,
            )
        }
        Command::Restore { ref from, force } => restore(config, from, force),
    }
}

/// `keygen`: a new key at `out`, or at the configuration's `ttp_key_file`.
fn keygen(config: &Path, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = match out {
        Some(path) => path,
        None => Config::load(config)?.ttp_key_file,
    };
    dropgate::secrets::write_new_key(&path)?;
    println!("wrote a new key to {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn hash_password() -> anyhow::Result<ExitCode> {
    println!("{}", dropgate::secrets::hash_password(&read_password()?)?);
    Ok(ExitCode::SUCCESS)
}

/// `sweep`: the retention sweep now, recorded as the daily job's run.
fn sweep(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let mut ledger = dropgate::ledger::Ledger::open(&StateDir::new(&config.state_dir).ledger())?;
    let started = dropgate::clock::now();
    let report = dropgate::retention::sweep(&config, &mut ledger, started, &Wake::unheard())?;
    ledger.job_ran(dropgate::schedule::SWEEP, started, &report.to_string())?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `remind`: the reminders due now, recorded as the job's run.
fn remind(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let mut ledger = dropgate::ledger::Ledger::open(&StateDir::new(&config.state_dir).ledger())?;
    let started = dropgate::clock::now();
    let report = dropgate::reminders::run(&config, &mut ledger, started, &Wake::unheard())?;
    ledger.job_ran(dropgate::schedule::REMINDERS, started, &report.to_string())?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `process`: the daily run now, recorded as the job's run.
fn process(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let state = StateDir::new(&config.state_dir);
    let mut ledger = dropgate::ledger::Ledger::open(&state.ledger())?;
    let started = dropgate::clock::now();
    let report = dropgate::process::run(&config, &mut ledger, &|| false, &Wake::unheard())?;
    ledger.job_ran(dropgate::schedule::PROCESS, started, &report.to_string())?;
    // Beside a running daemon the log is not removed when this connection closes.
    ledger.checkpoint(dropgate::ledger::CHECKPOINT_PATIENCE);
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `invite`: a new invitation, a renewed code, a revocation or the list.
fn invite(
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
    (tenant, role, email, user): (Option<String>, Vec<String>, Option<String>, Option<String>),
    renew: Option<String>,
    revoke: Option<String>,
    list: bool,
) -> anyhow::Result<ExitCode> {
    use dropgate::ops::invite;
    let invited = match (tenant, renew, revoke) {
        (Some(tenant), _, _) => {
            if role.is_empty() {
                anyhow::bail!("--role deliver or --role collect (or both) is needed");
            }
            let request = invite::Request {
                tenant,
                deliver: role.iter().any(|r| r == "deliver"),
                collect: role.iter().any(|r| r == "collect"),
                email: email.unwrap_or_default(),
                user,
            };
            invite::invite(config, &request, now)?
        }
        (None, Some(user), _) => invite::renew(config, &user, now)?,
        (None, None, Some(user)) => {
            invite::revoke(config, &user, now)?;
            println!("revoked {user}: its code and key no longer let it in");
            return Ok(ExitCode::SUCCESS);
        }
        (None, None, None) if list => {
            print!("{}", invite::list(config, now)?);
            return Ok(ExitCode::SUCCESS);
        }
        (None, None, None) => {
            anyhow::bail!(
                "say what to do: --tenant T --role R --email ADDR, --renew USER, --revoke USER or --list"
            )
        }
    };
    let until = invited
        .valid_until
        .with_timezone(&config.time_zone)
        .format("%Y-%m-%d %H:%M");
    println!(
        "invitation for {} queued to {}; its code is valid until {until}",
        invited.user, invited.email
    );
    Ok(ExitCode::SUCCESS)
}

/// `backup --to DIR`: a backup, and what it holds.
fn backup(config: &Path, to: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let made = dropgate::ops::backup::make(&config, to, dropgate::clock::now())?;
    println!("backup made in {}:", made.dir.display());
    for line in made.lines() {
        println!("  {line}");
    }
    println!("  MANIFEST (written last)");
    println!("It holds every key: keep it apart from the machine and safe.");
    Ok(ExitCode::SUCCESS)
}

/// `restore --from DIR [--force]`: a backup put back, and what was done.
fn restore(config: &Path, from: &Path, force: bool) -> anyhow::Result<ExitCode> {
    // The files the configuration names may be missing yet: restore brings them.
    let config = Config::load_to_restore(config)?;
    let done = dropgate::ops::restore::restore(&config, from, force, dropgate::clock::now())?;
    println!("restored from {}:", from.display());
    for line in done {
        println!("  {line}");
    }
    println!(
        "Compare {} with the live configuration, then start the daemon.",
        dropgate::layout::restored_config(&config.source).display()
    );
    Ok(ExitCode::SUCCESS)
}

fn spec(format: SpecFormat) -> ExitCode {
    print!(
        "{}",
        match format {
            SpecFormat::Md => dropgate::check::spec::markdown(),
            SpecFormat::Csv => dropgate::check::spec::csv(),
        }
    );
    ExitCode::SUCCESS
}

/// `status`: the report of the ledger in `state_dir`, or in the configuration's.
fn status(config: &Path, json: bool, state_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match state_dir {
        Some(_) => None,
        None => Some(Config::load(config)?),
    };
    let state_dir = state_dir.or_else(|| config.as_ref().map(|c| c.state_dir.clone()));
    let state_dir = state_dir.expect("one of the two is set");
    let report = dropgate::ops::status::report(&StateDir::new(state_dir), config.as_ref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(
    files: &[PathBuf],
    dataset: Option<Dataset>,
    json: bool,
    settings: &dropgate::check::validate::Settings,
) -> anyhow::Result<ExitCode> {
    let today = dropgate::clock::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let mut passed = true;
    let mut reports = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let outcome = dropgate::check::validate::validate(file, dataset, today, settings)
            .with_context(|| format!("cannot validate {}", file.display()))?;
        passed &= outcome.passed;
        if json {
            reports.push(outcome.json);
        } else {
            if i > 0 {
                println!();
            }
            print!("{}", outcome.text);
        }
    }
    if json {
        let out = match reports.len() {
            1 => reports.pop().unwrap_or_default(),
            _ => serde_json::Value::Array(reports),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The limits and language `validate` uses: the configuration's, if the file exists or was
/// named; the defaults for a vendor who has none.
fn validate_settings(
    config: &Path,
    given: bool,
) -> anyhow::Result<dropgate::check::validate::Settings> {
    if !given && !config.exists() {
        return Ok(dropgate::check::validate::Settings::default());
    }
    let config = Config::load(config)?;
    Ok(dropgate::check::validate::Settings {
        limits: config.file_limits,
        reader: config.reader,
        language: config.language,
    })
}

fn run(config: &Path) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let reload = dropgate::ops::signal::listen(shutdown.clone())
            .context("cannot install signal handlers")?;
        dropgate::ops::daemon::run(config, shutdown, reload).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            println!(
                "{}: ok ({} tenants, {} users)",
                path.display(),
                config.tenants.len(),
                config.users.len()
            );
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid { path, problems }) => {
            for problem in &problems {
                println!("{}", problem.in_file(&path));
            }
            eprintln!("{} problem(s) found", problems.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == second, "the two passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

fn mail_test(config: &Path, to: String) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let text = dropgate::mail::messages::test_message(config.language);
    let mail = dropgate::ledger::QueuedMail {
        id: 0,
        kind: "test".into(),
        recipients: vec![to],
        subject: text.subject,
        text: text.text,
        html: text.html,
        message_id: dropgate::mail::new_message_id(),
        created_at: dropgate::clock::now(),
        attempts: 0,
    };
    let mailer = dropgate::mail::Mailer::new(&config.mail)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(mailer.send(&mail)) {
        Ok(response) => {
            println!("sent: {response}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("not sent: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A full bundle asked for on the command line: from a date on, of the measurements or of
/// one law's messages (a Ketendata total file).
#[derive(Clone, Copy)]
struct Full {
    since: chrono::NaiveDate,
    product: Option<Standard>,
}

/// `publish`: this week's bundles now (`now`), or a full bundle, made now or asked for at
/// the next publication; of every municipality or only one.
fn publish(
    config: &Path,
    now: bool,
    only: Option<&str>,
    full: Option<Full>,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let municipalities = municipalities(&config, only)?;
    let mut ledger = dropgate::ledger::Ledger::open(&StateDir::new(&config.state_dir).ledger())?;
    let started = dropgate::clock::now();
    match (now, full) {
        (false, None) => {
            anyhow::bail!("nothing to do: give --now, or --full --tenant T --since DATE")
        }
        (false, Some(full)) => {
            request_full(&config, &mut ledger, municipalities[0], full, started)?;
            return Ok(ExitCode::SUCCESS);
        }
        (true, _) => {}
    }
    if let Some(full) = full {
        // `--full` names one municipality.
        let bundles = publish_full(&config, &mut ledger, municipalities[0], full, started)?;
        print_published(municipalities[0], bundles);
        ledger.checkpoint(dropgate::ledger::CHECKPOINT_PATIENCE);
        return Ok(ExitCode::SUCCESS);
    }
    let outcomes = dropgate::publish::publish_all_due(
        &config,
        &mut ledger,
        municipalities,
        started,
        &Wake::unheard(),
        &|| false,
    );
    let mut failed = Vec::new();
    for (tenant, outcome) in outcomes {
        match outcome {
            Ok(bundles) => print_published(tenant, bundles),
            Err(_) => failed.push(tenant.id.as_str()),
        }
    }
    if only.is_none() {
        // This week's run is done: the daemon need not catch up on it. A failed one runs
        // again at its next time, as the daemon's own would.
        if failed.is_empty() {
            ledger.job_ran(dropgate::schedule::PUBLISH, started, "published by hand")?;
        } else {
            let result = format!(
                "failed: published by hand; failed for {}",
                failed.join(", ")
            );
            ledger.job_failed(dropgate::schedule::PUBLISH, started, &result)?;
        }
    }
    ledger.checkpoint(dropgate::ledger::CHECKPOINT_PATIENCE);
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: no bundles for {} (see above); the other municipalities have theirs",
            failed.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The configured municipalities, or only the one called `only`; at least one.
fn municipalities<'a>(
    config: &'a Config,
    only: Option<&str>,
) -> anyhow::Result<Vec<&'a dropgate::config::Tenant>> {
    let municipalities: Vec<_> = config
        .tenants
        .iter()
        .filter(|t| t.kind == dropgate::config::TenantKind::Municipality)
        .filter(|t| only.is_none_or(|id| t.id == id))
        .collect();
    anyhow::ensure!(
        !municipalities.is_empty(),
        "no municipality {}",
        only.unwrap_or("is configured")
    );
    Ok(municipalities)
}

/// Records a request for a full bundle at `tenant`'s next publication, and says so.
fn request_full(
    config: &Config,
    ledger: &mut dropgate::ledger::Ledger,
    tenant: &dropgate::config::Tenant,
    full: Full,
    started: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let (since, wake) = (full.since, Wake::unheard());
    let new = match full.product {
        None => dropgate::publish::request_full(config, ledger, tenant, since, started, &wake)?,
        Some(product) => dropgate::publish::request_ketendata(
            config, ledger, tenant, product, since, started, &wake,
        )?,
    };
    let what = match full.product {
        None => "a full bundle".to_owned(),
        Some(product) => format!("a Ketendata {} total file", product.product()),
    };
    let ack = match (new, tenant.contacts.is_empty()) {
        (true, false) => "; its contacts are told by mail",
        (false, _) => "; it adds to the request already pending",
        (true, true) => "",
    };
    println!(
        "{}: {what} from {since} on will be made at the next publication{ack}",
        tenant.id
    );
    Ok(())
}

/// Publishes `tenant`'s full bundle now: of the measurements, or a Ketendata total file.
fn publish_full(
    config: &Config,
    ledger: &mut dropgate::ledger::Ledger,
    tenant: &dropgate::config::Tenant,
    full: Full,
    started: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<dropgate::publish::Published>> {
    let wake = Wake::unheard();
    let made = match full.product {
        None => {
            dropgate::publish::publish(config, ledger, tenant, started, Some(full.since), &wake)?
        }
        Some(product) => dropgate::publish::ketendata::publish(
            config,
            ledger,
            tenant,
            product,
            started,
            Some(full.since),
            &wake,
        )?,
    };
    Ok(made.into_iter().collect())
}

/// Prints each of `tenant`'s new bundles with its rows.
fn print_published(tenant: &dropgate::config::Tenant, bundles: Vec<dropgate::publish::Published>) {
    if bundles.is_empty() {
        println!("{}: no bundle: no rows (empty_bundles = false)", tenant.id);
    }
    for published in bundles {
        let rows: Vec<String> = published
            .rows
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        println!("{}: {} ({})", tenant.id, published.name, rows.join(", "));
    }
}
