//! Reminders (issue 16, item 4), with the binary's clock moved as a user's days pass: a
//! tenant that stops delivering is reminded once per period of silence; a login about to
//! expire is warned of 30 and 7 days before, and refused after its last day.

use crate::publish::deliver_all_at;
use crate::util::Env;

const ADMIN: &str = "beheer@ttp.example";

/// The kinds and recipients of the queued mail, oldest first.
fn mails(env: &Env, kind: &str) -> Vec<String> {
    env.texts(
        "SELECT recipients FROM mail WHERE kind = ?1 ORDER BY id",
        [kind],
    )
}

fn remind(env: &Env, offset: &str) -> String {
    let out = env.cmd_at(offset, &["remind"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_tenant_that_stops_delivering_is_reminded_once_per_period() {
    let env = Env::new(&format!(
        "[mail]\nadmin = \"{ADMIN}\"\n\
         [[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
         contacts = [\"data@zorg.example\"]\nexpect_delivery_days = 30\n\
         [[tenant]]\nid = \"stil\"\nkind = \"supplier\"\ncode = \"12345678\"\nname = \"Stil\"\n\
         contacts = [\"data@stil.example\"]\nexpect_delivery_days = 30\n"
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let csv = std::fs::read(std::path::Path::new(crate::util::SAMPLES).join("metingen-good.csv"))
        .unwrap();
    deliver_all_at(&env, "+0s", &[("zorg", "m.csv", &csv)]);
    // `stil` never delivered: its silence counts from the first run of the reminders.
    assert!(remind(&env, "+0s").starts_with("0 delivery reminders"));
    assert!(remind(&env, "+29d").starts_with("0 delivery reminders"));
    assert!(remind(&env, "+31d").starts_with("2 delivery reminders"));
    assert_eq!(
        mails(&env, "delivery-reminder"),
        [
            format!("[\"{ADMIN}\",\"data@zorg.example\"]"),
            format!("[\"{ADMIN}\",\"data@stil.example\"]"),
        ]
    );
    // Once per period, however often the job runs; again after the next 30 days.
    assert!(remind(&env, "+32d").starts_with("0 delivery reminders"));
    assert!(remind(&env, "+61d").starts_with("2 delivery reminders"));
    // A delivery ends the silence.
    deliver_all_at(&env, "+62d", &[("zorg", "m2.csv", &csv)]);
    assert!(remind(&env, "+70d").starts_with("0 delivery reminders"));
    let texts = env.texts(
        "SELECT subject || ' ' || text_body FROM mail WHERE kind = 'delivery-reminder' ORDER BY id LIMIT 1",
        [],
    );
    assert!(
        texts[0].contains("Herinnering: al 30 dagen geen levering van Zorg")
            && texts[0].contains("De laatste levering kwam op"),
        "{texts:?}"
    );
}

#[test]
fn a_login_is_warned_of_30_and_7_days_before_and_refused_after_its_last_day() {
    // The binary's local day, 20 days from now (Europe/Amsterdam, the default zone).
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let last_day = today + chrono::Days::new(20);
    let env = Env::new(&format!(
        "[mail]\nadmin = \"{ADMIN}\"\n\
         [[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
         contacts = [\"data@zorg.example\"]\n\
         [[user]]\nname = \"romvendor\"\npublic_keys = [\"{}\"]\nexpires = {last_day}\n\
         [[user.grant]]\ntenant = \"zorg\"\nroles = [\"deliver\"]\n",
        crate::util::public_key("romvendor")
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    assert!(remind(&env, "+0s").ends_with("1 expiry warnings\n"));
    assert!(remind(&env, "+1d").ends_with("0 expiry warnings\n"));
    assert!(remind(&env, "+14d").ends_with("1 expiry warnings\n"));
    assert!(remind(&env, "+15d").ends_with("0 expiry warnings\n"));
    assert_eq!(
        mails(&env, "login-expiring"),
        vec![format!("[\"{ADMIN}\",\"data@zorg.example\"]"); 2]
    );
    let subject = env.texts("SELECT subject FROM mail WHERE kind = 'login-expiring'", []);
    assert_eq!(
        subject[0],
        format!(
            "De SFTP-toegang van romvendor verloopt op {}",
            last_day.format("%d-%m-%Y")
        )
    );
    // On its last day it logs in; the day after, its key is refused.
    let key = crate::util::key(&env, "romvendor");
    for (offset, works) in [("+20d", true), ("+21d", false)] {
        let daemon = env.start_at(offset);
        let run = crate::util::sftp_batch(daemon.sftp_addr(), "romvendor", &key, "ls /zorg\n");
        let log = daemon.stop();
        assert_eq!(run.ok, works, "{offset}: {}", run.output);
        assert_eq!(log.contains("reason=\"login expired\""), !works, "{log}");
    }
}
